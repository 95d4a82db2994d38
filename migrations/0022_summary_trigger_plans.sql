-- Issue 18: the status trigger (0008, 0020) read `changed` (the statement's transition table)
-- against submissions and deliveries as semi-joins (`id in (select submission_id from
-- changed)`). PL/pgSQL keeps each statement's plan for the session, made on the table sizes of
-- the moment: on tables that were small then (a fresh install, a burst of intake between two
-- autovacuum runs, after a purge) the plans were a scan of the whole table hashed against
-- `changed` (or, sequential scans aside, a walk of the whole primary key in id order), and they
-- read every submission and delivery on every INSERT and every outcome until the next ANALYZE
-- replaced them. Measured: 32 submissions per statement at 5,000 a second, 25,000 deliveries
-- after 5 s: the trigger's UPDATE took 2.1 ms a call (4,353 rows read for 32) against 0.1 ms,
-- and intake ran at half the rate (tests/summary_trigger_plans_test.ts).
--
-- Now each changed submission is one probe of submissions' primary key and one of deliveries'
-- (submission_id, destination) index, whatever the statistics: the ids are taken from `changed`
-- once, sorted (every writer locks submissions in id order), submissions are reached through
-- `= any(ids)` and deliveries by a probe per submission, never by a join whose order the planner
-- could turn round (a walk of the whole primary key, on stale statistics); the function
-- runs with sequential scans, hash and merge joins off, so no plan can read a whole table, and
-- with generic plans: a custom plan for the actual number of ids looked cheaper than the generic
-- one every time, so each call planned its statements afresh (0.3 ms of a lone submission's
-- INSERT, measured).
create or replace function summarise_submissions() returns trigger
  language plpgsql
  set enable_seqscan = off
  set enable_hashjoin = off
  set enable_mergejoin = off
  set plan_cache_mode = force_generic_plan
  as $$
  declare
    ids bigint[] := array(select distinct submission_id from changed order by 1);
  begin
    perform 1 from unnest(ids) as c(id)
      cross join lateral (select 1 from submissions s where s.id = c.id for update) locked;
    if not exists (select 1 from changed where status <> 'running') then
      update submissions s
      set status = 'running', finished_at = null, updated_at = now()
      where s.id = any(ids)
        and (s.status, s.finished_at) is distinct from ('running', null);
      return null;
    end if;
    -- Under READ COMMITTED this new statement sees what a concurrent writer of a sibling
    -- delivery committed while this one waited for the lock. Submissions are reached through
    -- `any(ids)` only (one primary-key probe per id, never a walk of the key, however many
    -- changed), their deliveries by a correlated probe of (submission_id, destination).
    update submissions s
    set (status, finished_at, updated_at) = (
      select (array['running', 'retrying', 'queued', 'dead', 'rejected', 'partial',
                    'delivered'])[min(submission_status_rank(d.status))],
             case when bool_and(d.finished_at is not null) then max(d.finished_at) end,
             now()
      from deliveries d
      where d.submission_id = s.id
    )
    where s.id = any(ids)
      and row(s.status, s.finished_at) is distinct from (
        select row((array['running', 'retrying', 'queued', 'dead', 'rejected', 'partial',
                          'delivered'])[min(submission_status_rank(d.status))],
                   case when bool_and(d.finished_at is not null) then max(d.finished_at) end)
        from deliveries d
        where d.submission_id = s.id
      );
    return null;
  end
  $$;
