-- The audit trail of every API request (issue: audit). Written in batches by a buffer in the
-- process, so the submission path pays no extra round trip per request.
create table request_log (
  id bigint generated always as identity primary key,
  at timestamptz not null,
  request_id text not null,
  user_uid text,
  username text,
  method text not null,
  path text not null,
  status integer not null,
  duration_ms integer not null,
  client_ip text
);
create index request_log_at_idx on request_log (at desc);
create index request_log_username_at_idx on request_log (username, at desc);
