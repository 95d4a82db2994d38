-- Aggregate submissions and their delivery queue (issue 5). One row is both the audit record
-- and the job: inserting it enqueues it, in the same transaction (River's InsertTx), so a client
-- only ever gets an id for work that is durably stored. No users or secrets here.
create table submissions (
  id bigint generated always as identity primary key,
  -- The old service's Asynq id; old clients requeue by it.
  task_id uuid not null default gen_random_uuid() unique,
  -- Who submitted, copied rather than referenced: the audit trail outlives a deleted user.
  user_uid text not null,
  username text not null,
  source_name text not null,
  idempotency_key text,
  -- sha256 of the canonical request: same key and same hash is a replay, another hash a 409.
  request_hash text not null,
  org_unit text not null,
  org_unit_name text,
  period text not null,
  data_set text not null,
  -- The request as received (numbers as JSON numbers; the payload keeps their exact text).
  request jsonb not null,
  -- The exact DHIS2 data value set that is sent, built once at acceptance.
  payload jsonb not null,
  -- The request code behind payload.dataValues[i], to name the codes DHIS2 conflicts point at.
  codes text[] not null,
  -- Codes dropped under api.unmapped_codes = ignore.
  unmapped_codes text[] not null default '{}',
  status text not null default 'queued' check (
    status in ('queued', 'running', 'retrying', 'delivered', 'partial', 'rejected', 'dead')
  ),
  -- Every claim counts, first delivery included (retry_policy.ts's convention).
  attempts integer not null default 0,
  -- attempts at the last manual requeue: the retry budget restarts there.
  attempts_at_requeue integer not null default 0,
  run_at timestamptz not null default now(),
  locked_until timestamptz,
  locked_by text,
  last_error text,
  -- The last failure was DHIS2 refusing our credentials (401/403/login redirect).
  credential_problem boolean not null default false,
  http_status integer,
  dhis2_status text,
  imported integer,
  updated integer,
  ignored integer,
  deleted integer,
  -- DHIS2 conflicts with the request codes that caused them (outcome.ts's SourceConflict).
  conflicts jsonb,
  -- The last DHIS2 reply body; only with api.save_response.
  response jsonb,
  requeued_at timestamptz,
  requeued_by text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  check (idempotency_key is null or length(idempotency_key) between 1 and 255)
);

-- Idempotency is scoped to the caller.
create unique index submissions_idempotency_idx on submissions (user_uid, idempotency_key)
  where idempotency_key is not null;

-- The claim: WHERE status in ('queued','retrying') AND run_at <= now() ORDER BY run_at, id.
-- Partial, so finished rows (nearly all of a big table) are not in it and it stays small.
create index submissions_due_idx on submissions (run_at, id)
  where status in ('queued', 'retrying');

-- The rescuer: WHERE status = 'running' AND locked_until < now().
create index submissions_lease_idx on submissions (locked_until) where status = 'running';

-- The logs list orders by (created_at desc, id desc); each common filter gets an index that
-- serves the equality, the date range and the order together.
create index submissions_created_idx on submissions (created_at, id);
create index submissions_status_created_idx on submissions (status, created_at, id);
create index submissions_org_unit_created_idx on submissions (org_unit, created_at, id);
create index submissions_data_set_created_idx on submissions (data_set, created_at, id);
create index submissions_period_created_idx on submissions (period, created_at, id);
create index submissions_username_created_idx on submissions (username, created_at, id);
create index submissions_user_uid_created_idx on submissions (user_uid, created_at, id);

-- Every delivery attempt, append-only (River keeps errors[] per attempt).
create table submission_attempts (
  submission_id bigint not null references submissions (id) on delete cascade,
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
  primary key (submission_id, number)
);
