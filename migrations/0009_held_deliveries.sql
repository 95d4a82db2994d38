-- FIFO per ordering key without scanning the blocked: a delivery that waits behind an older
-- pending one of its destination and key is `held` and so not in the claim's index at all.
-- Before this, the claim probed every due delivery for an older pending one: with 20,000 due
-- deliveries behind one key whose oldest was retrying, each claim read all 20,000 to find nothing
-- (231-448 ms, against 0.5-0.8 ms; scripts/bench_claim.ts).
--
-- `held` is set at enqueue when an older delivery of the key is pending, and cleared for the next
-- one of the key when a delivery finishes (recordAttempt). A delivery whose predecessor finished
-- some other way (deleted, purged, given up by the rescuer) or committed while its own insert
-- was in flight is released by the sweep that runs with the rescuer. The claim's NOT EXISTS
-- stays, so order holds even for a delivery that is not held but should be.
alter table deliveries add column held boolean not null default false;

update deliveries d set held = true
where d.status in ('queued', 'retrying')
  and exists (
    select from deliveries older
    where older.destination = d.destination and older.ordering_key = d.ordering_key
      and older.status in ('queued', 'running', 'retrying')
      and older.id < d.id
  );

drop index deliveries_due_idx;
create index deliveries_due_idx on deliveries (run_at, id)
  where status in ('queued', 'retrying') and not held;
