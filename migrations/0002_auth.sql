-- Users, credentials and login throttling (issue 3). No user, password, token or key is seeded
-- here: the first admin is created by `serve` on an empty table, the JWT key on first start.

create table users (
  id bigint generated always as identity primary key,
  uid text not null unique check (uid ~ '^[a-zA-Z][a-zA-Z0-9]{10}$'),
  username text not null check (username ~ '^[A-Za-z0-9][A-Za-z0-9._@+-]{2,63}$'),
  -- `scrypt$N$r$p$salt$hash` (src/auth/password.ts); never plain, never bcrypt-in-SQL.
  password_hash text not null,
  first_name text not null default '',
  last_name text not null default '',
  email text,
  telephone text not null default '',
  role text not null check (role in ('admin', 'submitter', 'viewer')),
  is_active boolean not null default true,
  -- Which mappings this user's submissions use; an API token may override it.
  source_name text not null default 'default',
  last_login timestamptz,
  failed_logins integer not null default 0,
  last_failed_login timestamptz,
  -- Access tokens issued before this instant are refused (password change, forced logout).
  password_changed timestamptz not null default now(),
  created timestamptz not null default now(),
  updated timestamptz not null default now()
);
-- Case-insensitive: "Admin" and "admin" must not be two accounts a person can confuse.
create unique index users_username_lower_key on users (lower(username));
create index users_role_idx on users (role);

create table api_tokens (
  id bigint generated always as identity primary key,
  user_id bigint not null references users (id) on delete cascade,
  name text not null,
  -- The non-secret part of `d2gw_<prefix>_<secret>`, shown in lists so a token can be named.
  prefix text not null,
  -- SHA-256 hex of the whole token; the secret itself is never stored.
  token_hash text not null unique,
  -- Overrides users.source_name for submissions made with this token; null = the user's.
  source_name text,
  created timestamptz not null default now(),
  -- Written in batches (src/auth/last_used.ts), so it can lag by the flush interval.
  last_used timestamptz,
  expires timestamptz,
  revoked_at timestamptz
);
create index api_tokens_user_idx on api_tokens (user_id, created desc);

-- Opaque refresh tokens. Each login starts a family; each refresh marks the presented token
-- used and adds its successor to the same family. Presenting a used token again means it was
-- copied, so the whole family is revoked (OAuth 2.0 Security BCP §4.14.2).
create table refresh_tokens (
  id bigint generated always as identity primary key,
  user_id bigint not null references users (id) on delete cascade,
  family_id uuid not null,
  token_hash text not null unique,
  created timestamptz not null default now(),
  expires timestamptz not null,
  used_at timestamptz,
  revoked_at timestamptz
);
create index refresh_tokens_family_idx on refresh_tokens (family_id);
create index refresh_tokens_user_idx on refresh_tokens (user_id);
create index refresh_tokens_expires_idx on refresh_tokens (expires);

-- Small server-wide values owned by auth, such as the generated JWT key (name 'jwt_key'), so
-- every replica signs and verifies with the same one.
create table auth_settings (
  name text primary key,
  value text not null,
  created timestamptz not null default now()
);

-- Failed-login counters, per username and per client address, in the database so a restart
-- does not hand an attacker a fresh budget. `key` is SHA-256 of "username:<lower name>" or
-- "address:<ip>": a password typed into the username field is never stored in clear.
create table login_throttle (
  key text primary key,
  kind text not null check (kind in ('username', 'address')),
  failures integer not null,
  window_start timestamptz not null,
  last_failure timestamptz not null
);
create index login_throttle_window_idx on login_throttle (window_start);
