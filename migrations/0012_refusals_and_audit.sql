-- Issue 14: refused requests become visible, and admin actions are kept in an audit trail.

-- Why a request was refused (its error envelope's code, message and field names: never the
-- body), and who it claimed to be when that was not verified (a 401's Basic username or API
-- token prefix). identity_verified is null for rows written before this migration.
alter table request_log
  add column error_code text,
  add column error_message text,
  add column error_fields text[],
  add column token_prefix text,
  add column identity_verified boolean;
-- The "Refused requests" list and its filters read these, newest first.
create index request_log_refused_at_idx on request_log (at desc, id desc) where status >= 400;
create index request_log_lower_username_at_idx on request_log (lower(username), at desc);

-- Who did what to submissions, mappings, users and tokens, and when: written in the same
-- request, after the change succeeded. Append-only: a trigger refuses UPDATE, DELETE and
-- TRUNCATE for every role, so the trail cannot be edited through the application's connection.
create table audit_log (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  actor_uid text,
  actor_username text not null,
  -- api (HTTP, the console included) or cli.
  via text not null check (via in ('api', 'cli')),
  action text not null,
  target text,
  -- The filter or counts of the action (never a password or token).
  details jsonb not null default '{}',
  request_id text,
  client_ip text
);
create index audit_log_at_idx on audit_log (at desc, id desc);
create index audit_log_action_at_idx on audit_log (action, at desc);
create index audit_log_actor_at_idx on audit_log (lower(actor_username), at desc);

create function audit_log_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'audit_log is append-only: % is not allowed', tg_op
    using errcode = 'insufficient_privilege';
end;
$$;
create trigger audit_log_no_update_delete
  before update or delete on audit_log
  for each row execute function audit_log_append_only();
create trigger audit_log_no_truncate
  before truncate on audit_log
  for each statement execute function audit_log_append_only();
