-- Issue 11: submission -> delivery -> attempt. A submission is what the caller sent, written once
-- at intake; a delivery is the queue's job for one destination it goes to (today exactly one,
-- `default`); an attempt is one HTTP exchange of a delivery, append-only. Batching will combine
-- deliveries, and several destinations or copies add deliveries, never submissions.
-- Every existing submission gets its `default` delivery carrying its job columns, with the
-- delivery id equal to the submission id, and its attempts move along; nothing is lost.

create table deliveries (
  id bigint generated always as identity primary key,
  submission_id bigint not null references submissions (id) on delete cascade,
  destination text not null default 'default',
  -- Which implementation delivers it (src/aggregate/ today; tracker later).
  kind text not null,
  -- Set at enqueue by the kind: a delivery is not claimed while an older pending one of the same
  -- destination has the same key. Aggregate: org unit | period written the one way DHIS2 stores
  -- it (0006 explains why that pair; src/aggregate/ordering_key.ts computes it).
  ordering_key text not null,
  status text not null default 'queued' check (
    status in ('queued', 'running', 'retrying', 'delivered', 'partial', 'rejected', 'dead')
  ),
  -- Every claim counts, the first delivery included (retry_policy.ts's convention).
  attempts integer not null default 0,
  -- attempts at the last manual requeue: the retry budget restarts there.
  attempts_at_requeue integer not null default 0,
  -- Attempts allowed since enqueue or the last requeue, fixed at enqueue (0006 says why).
  max_attempts integer not null check (max_attempts between 1 and 1001),
  run_at timestamptz not null default now(),
  locked_until timestamptz,
  locked_by text,
  -- The last attempt's outcome.
  last_error text,
  credential_problem boolean not null default false,
  http_status integer,
  dhis2_status text,
  imported integer,
  updated integer,
  ignored integer,
  deleted integer,
  conflicts jsonb,
  -- The last reply body; only with api.save_response.
  response jsonb,
  requeued_at timestamptz,
  requeued_by text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  unique (submission_id, destination)
);

insert into deliveries (
  id, submission_id, destination, kind, ordering_key, status, attempts, attempts_at_requeue,
  max_attempts, run_at, locked_until, locked_by, last_error, credential_problem, http_status,
  dhis2_status, imported, updated, ignored, deleted, conflicts, response, requeued_at,
  requeued_by, created_at, updated_at, finished_at
)
overriding system value
select id, id, 'default', 'aggregate', submission_ordering_key(org_unit, period), status,
       attempts, attempts_at_requeue, max_attempts, run_at, locked_until, locked_by, last_error,
       credential_problem, http_status, dhis2_status, imported, updated, ignored, deleted,
       conflicts, response, requeued_at, requeued_by, created_at, updated_at, finished_at
from submissions
order by id;

-- New deliveries are numbered after the moved ones (FIFO per key compares ids).
select setval(pg_get_serial_sequence('deliveries', 'id'),
              coalesce((select max(id) from deliveries), 1),
              (select count(*) > 0 from deliveries));

-- The claim: WHERE status in ('queued','retrying') AND run_at <= now() ORDER BY run_at, id.
-- Partial, so finished deliveries (nearly all of a big table) are not in it.
create index deliveries_due_idx on deliveries (run_at, id) where status in ('queued', 'retrying');

-- The claim's NOT EXISTS: an older (smaller id) pending delivery, same destination and key.
create index deliveries_pending_key_idx on deliveries (destination, ordering_key, id)
  where status in ('queued', 'running', 'retrying');

-- The rescuer: WHERE status = 'running' AND locked_until < now().
create index deliveries_lease_idx on deliveries (locked_until) where status = 'running';

-- One row per HTTP exchange, append-only (River keeps errors[] per attempt).
create table delivery_attempts (
  delivery_id bigint not null references deliveries (id) on delete cascade,
  number integer not null,
  worker text not null,
  started_at timestamptz not null,
  finished_at timestamptz not null,
  duration_ms integer not null,
  -- delivered | partial | rejected | retry | dead | lease_expired
  outcome text not null,
  http_status integer,
  dhis2_status text,
  imported integer,
  updated integer,
  ignored integer,
  deleted integer,
  conflicts jsonb,
  error text,
  credential_problem boolean not null default false,
  primary key (delivery_id, number)
);

insert into delivery_attempts (
  delivery_id, number, worker, started_at, finished_at, duration_ms, outcome, http_status,
  dhis2_status, imported, updated, ignored, deleted, conflicts, error, credential_problem
)
select submission_id, number, worker, started_at, finished_at, duration_ms, outcome, http_status,
       dhis2_status, imported, updated, ignored, deleted, conflicts, error, credential_problem
from submission_attempts;

drop table submission_attempts;

-- The submission keeps what the caller sent and a status summarising its deliveries.
drop index submissions_pending_key_idx;
drop function submission_ordering_key(text, text);
alter table submissions
  add column kind text not null default 'aggregate',
  drop column attempts,
  drop column attempts_at_requeue,
  drop column max_attempts,
  drop column run_at,
  drop column locked_until,
  drop column locked_by,
  drop column last_error,
  drop column credential_problem,
  drop column http_status,
  drop column dhis2_status,
  drop column imported,
  drop column updated,
  drop column ignored,
  drop column deleted,
  drop column conflicts,
  drop column response,
  drop column requeued_at,
  drop column requeued_by;
alter table submissions alter column kind drop default;

-- The summary rule: a submission shows the state of its deliveries that most needs attention,
-- the first of running, retrying, queued (work not done), then dead, rejected, partial,
-- delivered (the worst finish). With one delivery it is that delivery's status. finished_at is
-- the last delivery's finish once every one has finished. Kept by these triggers in the same
-- transaction as the delivery change, so no writer can forget it and raw SQL keeps it too.
create function submission_status_rank(status text) returns integer
  language sql immutable parallel safe
  as $$
    select array_position(
      array['running', 'retrying', 'queued', 'dead', 'rejected', 'partial', 'delivered'], status)
  $$;

create function summarise_submissions() returns trigger
  language plpgsql
  as $$
  begin
    -- Lock the submissions first (in id order, so two writers cannot deadlock on them), then
    -- read their deliveries in a new statement: under READ COMMITTED it sees what a concurrent
    -- writer of a sibling delivery committed while this one waited for the lock.
    perform 1 from submissions
      where id in (select submission_id from changed) order by id for update;
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

-- A trigger with a transition table serves one event, hence two.
create trigger deliveries_summary_insert after insert on deliveries
  referencing new table as changed for each statement execute function summarise_submissions();
create trigger deliveries_summary_update after update on deliveries
  referencing new table as changed for each statement execute function summarise_submissions();
