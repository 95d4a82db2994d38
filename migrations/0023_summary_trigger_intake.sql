-- Issue 18: the status trigger (0008, 0020, 0022) ran its whole course on intake's INSERTs, where
-- it never changes anything: the new submission is already queued and so is each new delivery.
-- The lock (a WAL record per submission), the two aggregates per submission and the comparison
-- took 80-90 us of PostgreSQL's CPU per lone submission (of about 310) and 35-40 us per
-- submission in groups of 3 (tests/summary_trigger_intake_test.ts). When every inserted row is a
-- queued delivery of a submission this same transaction inserted as queued, the trigger now
-- returns after one primary-key probe per row; every other insert (a requeue's or a new
-- destination's delivery for an older submission, the Go service's history import, a delivery
-- inserted already finished) takes the general path unchanged.
create or replace function summarise_submissions() returns trigger
  language plpgsql
  set enable_seqscan = off
  set enable_hashjoin = off
  set enable_mergejoin = off
  set plan_cache_mode = force_generic_plan
  as $$
  declare
    ids bigint[];
  begin
    -- Intake: new deliveries, queued, of submissions this transaction has just inserted as
    -- queued. Their summary is already right (queued, unfinished, whatever else this
    -- transaction added before, each statement of which ran this trigger), and no other
    -- session can see these submissions to change their deliveries meanwhile, so nothing needs
    -- a lock or a recount. One primary-key probe per row instead of a lock, two aggregates and
    -- a comparison per submission. A savepoint's rows carry the subtransaction's xid, not the
    -- top one: they take the general path below.
    if TG_OP = 'INSERT' and not exists (
      select 1 from changed c
      where c.status <> 'queued' or c.finished_at is not null
        or not exists (
          select 1 from submissions s
          where s.id = c.submission_id
            and s.xmin = pg_current_xact_id()::xid
            and s.status = 'queued' and s.finished_at is null
        )
    ) then
      return null;
    end if;
    ids := array(select distinct submission_id from changed order by 1);
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
