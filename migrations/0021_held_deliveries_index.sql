-- Issue 13: a batch claim looks for the held deliveries of every key in the batch (its
-- followers: newer deliveries of a key waiting behind its head), two index probes per key, even
-- when the destination holds none, which is almost always: ~10 ms of a claim of 1,000 under
-- load (auto_explain during the 10,000-value delivery bench), inside the destination's lock
-- that every claim of it queues on. Held deliveries are few; this index says at once whether
-- the destination has any, and costs an entry only when one is held.
create index deliveries_held_dest_idx on deliveries (destination)
  where held and status in ('queued', 'retrying');
