-- Issue 13: a batch claim looks for the held deliveries of every key in the batch (its
-- followers: newer deliveries of a key waiting behind its head), two index probes per key, even
-- when the destination holds none, which is almost always: ~10 ms of a claim of 1,000 under
-- load (auto_explain during the 10,000-value delivery bench), inside the destination's lock
-- that every claim of it queues on. Held deliveries are few; this index says at once whether
-- the destination has any, and costs an entry only when one is held.
create index deliveries_held_dest_idx on deliveries (destination)
  where held and status in ('queued', 'retrying');

-- Whether a claimed delivery has a newer one of its key running (queries.ts hasNewer): only the
-- running deliveries of that key. Through deliveries_running_idx (destination, locked_by), as the
-- planner chose on statistics taken while nothing ran, the probe read every running delivery of
-- the destination for each claimed one (64,000 rows for a claim of 64 with 1,000 running);
-- through the pending-key index, every newer queued delivery of the key (a key with a backlog of
-- thousands drained in quadratic time). One entry per running delivery.
create index deliveries_running_key_idx on deliveries (destination, ordering_key, id)
  where status = 'running';
