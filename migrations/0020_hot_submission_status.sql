-- Issues 13 and 18: the submission's status summary (0008's trigger) is rewritten on every claim
-- and every outcome. `status` and `finished_at` were indexed (the logs filter's
-- (status, created_at, id) and the tracker payload purge's (finished_at)), so each rewrite was a
-- non-HOT update: a new entry in every one of the table's ten indexes. Measured with 1,000
-- deliveries claimed then recorded per statement: the trigger was ~80 % of the statement
-- (69 ms against 15 ms without it). With neither column indexed and room left on each page
-- the rewrite is a heap-only (HOT) update that touches no index.
--
-- The logs' status filter now finds its submissions through their deliveries: a submission's
-- summary is always the status of one of its deliveries, so `status in (...)` is unchanged by
-- adding `id in (select submission_id from deliveries where status in (...))`, which this index
-- serves when the status is rare (dead, rejected). Deliveries' status is already in their
-- partial indexes, so their updates were never HOT; this costs one more index entry each.
drop index submissions_status_created_idx;
create index deliveries_status_submission_idx on deliveries (status, submission_id);

-- The purge reads the unpurged tracker submissions and picks the finished ones.
drop index submissions_tracker_purge_idx;
create index submissions_tracker_unpurged_idx on submissions (id)
  where kind = 'tracker' and payload_purged_at is null;

-- Room on each page for a row's next versions: a claim and an outcome each write one, and HOT
-- needs the new version on the same page. Applies to pages written from now on.
alter table submissions set (fillfactor = 50);


-- Issue 18: the claims count a destination's running deliveries (its max_concurrent across
-- replicas) on every claim. Read through deliveries_pending_key_idx, as the planner chose on
-- statistics of a queue filled since its last ANALYZE, that count read the whole queue (5,000
-- rows, 3 ms per claim); this index holds only the running ones.
create index deliveries_running_idx on deliveries (destination, locked_by) where status = 'running';

-- A claim changes deliveries only to `running`, which the summary ranks first: the submission
-- is then `running` and unfinished whatever its other deliveries say, so no need to read them.
-- The submissions are still locked first, in id order, as every other writer does.
create or replace function summarise_submissions() returns trigger
  language plpgsql
  as $$
  begin
    perform 1 from submissions
      where id in (select submission_id from changed) order by id for update;
    if not exists (select 1 from changed where status <> 'running') then
      update submissions s
      set status = 'running', finished_at = null, updated_at = now()
      where s.id in (select submission_id from changed)
        and (s.status, s.finished_at) is distinct from ('running', null);
      return null;
    end if;
    -- Under READ COMMITTED this new statement sees what a concurrent writer of a sibling
    -- delivery committed while this one waited for the lock.
    update submissions s
    set status = x.status, finished_at = x.finished_at, updated_at = now()
    from (
      select d.submission_id,
             (array['running', 'retrying', 'queued', 'dead', 'rejected', 'partial',
                    'delivered'])[min(submission_status_rank(d.status))] as status,
             case when bool_and(d.finished_at is not null) then max(d.finished_at) end
               as finished_at
      from deliveries d
      where d.submission_id in (select submission_id from changed)
      group by d.submission_id
    ) x
    where s.id = x.submission_id
      and (s.status, s.finished_at) is distinct from (x.status, x.finished_at);
    return null;
  end
  $$;
