-- The console's sign-in, shared by every tab of one browser (issue 14): an HttpOnly,
-- SameSite=Strict cookie holds a random session id; only its SHA-256 is stored, as for refresh
-- tokens. A session ends on sign-out, after `expires`, after an idle time (src/admin/session.ts)
-- or when the user's token_generation moves on (password change, deactivation).
create table console_sessions (
  id bigint generated always as identity primary key,
  token_hash text not null unique,
  user_id bigint not null references users (id) on delete cascade,
  -- users.token_generation at sign-in: a password change or reset ends the session.
  token_generation integer not null,
  -- When the password was checked (for steps that need a recent login, like a new API token).
  auth_time timestamptz not null,
  created timestamptz not null default now(),
  last_seen timestamptz not null default now(),
  expires timestamptz not null
);
create index console_sessions_user_idx on console_sessions (user_id);
create index console_sessions_expires_idx on console_sessions (expires);
