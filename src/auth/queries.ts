/**
 * SQL for the tables auth owns: users, auth_settings and login_throttle. API and refresh tokens
 * are in token_queries.ts. Every function takes the connection first so callers can use a tx.
 */
import type { Db } from "../db/db.ts";
import type { Role } from "./principal.ts";

export interface UserRow {
  id: number;
  uid: string;
  username: string;
  password_hash: string;
  first_name: string;
  last_name: string;
  email: string | null;
  telephone: string;
  role: Role;
  is_active: boolean;
  source_name: string;
  last_login: Date | null;
  failed_logins: number;
  last_failed_login: Date | null;
  password_changed: Date;
  created: Date;
  updated: Date;
}

export interface NewUser {
  uid: string;
  username: string;
  password_hash: string;
  first_name?: string;
  last_name?: string;
  email?: string | null;
  telephone?: string;
  role: Role;
  is_active?: boolean;
  source_name?: string;
}

export async function insertUser(sql: Db, u: NewUser): Promise<UserRow> {
  const [row] = await sql<UserRow[]>`
    insert into users (uid, username, password_hash, first_name, last_name, email, telephone,
                       role, is_active, source_name)
    values (${u.uid}, ${u.username}, ${u.password_hash}, ${u.first_name ?? ""},
            ${u.last_name ?? ""}, ${u.email ?? null}, ${u.telephone ?? ""}, ${u.role},
            ${u.is_active ?? true}, ${u.source_name ?? "default"})
    returning *`;
  return row;
}

export async function userByUsername(sql: Db, username: string): Promise<UserRow | undefined> {
  const [row] = await sql<UserRow[]>`
    select * from users where lower(username) = lower(${username})`;
  return row;
}

export async function userByUid(sql: Db, uid: string): Promise<UserRow | undefined> {
  const [row] = await sql<UserRow[]>`select * from users where uid = ${uid}`;
  return row;
}

export async function userById(sql: Db, id: number): Promise<UserRow | undefined> {
  const [row] = await sql<UserRow[]>`select * from users where id = ${id}`;
  return row;
}

export async function countUsers(sql: Db): Promise<number> {
  const [{ n }] = await sql`select count(*)::int as n from users`;
  return n;
}

export async function countActiveAdmins(sql: Db, exceptId?: number): Promise<number> {
  const [{ n }] = await sql`
    select count(*)::int as n from users
    where role = 'admin' and is_active ${
    exceptId === undefined ? sql`` : sql`and id <> ${exceptId}`
  }`;
  return n;
}

export interface UserFilter {
  uid?: string;
  username?: string;
  email?: string;
  is_active?: boolean;
  role?: Role;
}

export async function listUsers(
  sql: Db,
  f: UserFilter,
  page: { limit: number; offset: number },
): Promise<{ rows: UserRow[]; total: number }> {
  // Each filter is a fragment that is empty when unset; `true` keeps the AND chain valid.
  const where = sql`
    true
    ${f.uid ? sql`and uid = ${f.uid}` : sql``}
    ${f.username ? sql`and lower(username) = lower(${f.username})` : sql``}
    ${f.email ? sql`and lower(email) = lower(${f.email})` : sql``}
    ${f.is_active === undefined ? sql`` : sql`and is_active = ${f.is_active}`}
    ${f.role ? sql`and role = ${f.role}` : sql``}`;
  const rows = await sql<UserRow[]>`
    select * from users where ${where} order by id limit ${page.limit} offset ${page.offset}`;
  const [{ n }] = await sql`select count(*)::int as n from users where ${where}`;
  return { rows, total: n };
}

export type UserChanges = Partial<
  Pick<
    UserRow,
    | "username"
    | "password_hash"
    | "first_name"
    | "last_name"
    | "email"
    | "telephone"
    | "role"
    | "is_active"
    | "source_name"
  >
>;

/** Applies only the given columns; a new password also moves `password_changed`. */
export async function updateUser(
  sql: Db,
  id: number,
  changes: UserChanges,
): Promise<UserRow | undefined> {
  const cols = Object.fromEntries(
    Object.entries(changes).filter(([, v]) => v !== undefined),
  ) as Record<string, unknown>;
  // Whole seconds, like a JWT's iat: a token issued after the change is never refused.
  if (changes.password_hash !== undefined) {
    cols.password_changed = new Date(Math.floor(Date.now() / 1000) * 1000);
  }
  cols.updated = new Date();
  const [row] = await sql<UserRow[]>`
    update users set ${sql(cols)} where id = ${id} returning *`;
  return row;
}

export async function recordLogin(sql: Db, id: number, ok: boolean): Promise<void> {
  if (ok) {
    await sql`update users set last_login = now(), failed_logins = 0 where id = ${id}`;
  } else {
    await sql`
      update users set failed_logins = failed_logins + 1, last_failed_login = now()
      where id = ${id}`;
  }
}

// ---- auth_settings

/**
 * Stores `value` under `name` unless another replica got there first, and returns whichever
 * value won. Two replicas starting at once therefore end up with the same JWT key.
 */
export async function settingOnce(sql: Db, name: string, value: string): Promise<string> {
  await sql`insert into auth_settings (name, value) values (${name}, ${value})
            on conflict (name) do nothing`;
  const [row] = await sql`select value from auth_settings where name = ${name}`;
  return row.value as string;
}

// ---- login_throttle

export interface ThrottleRow {
  key: string;
  failures: number;
  window_start: Date;
}

export async function throttleRows(sql: Db, keys: string[]): Promise<ThrottleRow[]> {
  return await sql<ThrottleRow[]>`
    select key, failures, window_start from login_throttle where key = any(${keys})`;
}

/**
 * Counts one failure for each key in one statement; a window older than `windowSeconds`
 * restarts at 1. Returns the counters after the increment.
 */
export async function recordFailures(
  sql: Db,
  entries: Array<{ key: string; kind: "username" | "address" }>,
  windowSeconds: number,
): Promise<ThrottleRow[]> {
  const keys = entries.map((e) => e.key);
  const kinds = entries.map((e) => e.kind);
  return await sql<ThrottleRow[]>`
    insert into login_throttle (key, kind, failures, window_start, last_failure)
    select k, kd, 1, now(), now() from unnest(${keys}::text[], ${kinds}::text[]) as t(k, kd)
    on conflict (key) do update set
      failures = case when login_throttle.window_start < now() - make_interval(secs => ${windowSeconds})
                      then 1 else login_throttle.failures + 1 end,
      window_start = case when login_throttle.window_start < now() - make_interval(secs => ${windowSeconds})
                          then now() else login_throttle.window_start end,
      last_failure = now()
    returning key, failures, window_start`;
}

export async function clearThrottle(sql: Db, key: string): Promise<void> {
  await sql`delete from login_throttle where key = ${key}`;
}

/** Drops counters whose window is over, so the table stays as small as the current attack. */
export async function pruneThrottle(sql: Db, windowSeconds: number): Promise<number> {
  const r = await sql`
    delete from login_throttle where window_start < now() - make_interval(secs => ${windowSeconds})`;
  return r.count;
}
