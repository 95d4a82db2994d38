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
  /** Bumped by a password change or a deactivation; access tokens carry it (claim `gen`). */
  token_generation: number;
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
  is_admin?: boolean;
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
    ${f.role ? sql`and role = ${f.role}` : sql``}
    ${
    f.is_admin === undefined
      ? sql``
      : f.is_admin
      ? sql`and role = 'admin'`
      : sql`and role <> 'admin'`
  }`;
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

/**
 * Applies only the given columns. A new password moves `password_changed` and, like a
 * deactivation, bumps `token_generation`: every access token issued before stops working.
 */
export async function updateUser(
  sql: Db,
  id: number,
  changes: UserChanges,
): Promise<UserRow | undefined> {
  const cols = Object.fromEntries(
    Object.entries(changes).filter(([, v]) => v !== undefined),
  ) as Record<string, unknown>;
  if (changes.password_hash !== undefined) cols.password_changed = new Date();
  cols.updated = new Date();
  const bump = changes.password_hash !== undefined || changes.is_active === false ? 1 : 0;
  const [row] = await sql<UserRow[]>`
    update users set ${sql(cols)}, token_generation = token_generation + ${bump}
    where id = ${id} returning *`;
  return row;
}

/**
 * The same password under stronger hash parameters (on login): not a password change, so no
 * session or token is ended by it.
 */
export async function rehashPassword(
  sql: Db,
  id: number,
  from: string,
  to: string,
): Promise<void> {
  // Only over the hash that was verified: a reset that landed meanwhile is not undone.
  await sql`update users set password_hash = ${to} where id = ${id} and password_hash = ${from}`;
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

export interface ThrottleKey {
  key: string;
  kind: "username" | "address";
}

export interface ReservedCounts {
  key: string;
  /** Failures in the current window (0 once it is over). */
  failures: number;
  /** Attempts reserved and not yet decided, the new one included. */
  pending: number;
  /** Whole seconds until the current window ends. */
  window_left: number;
}

/** Every statement locks the rows in key order, so two logins never wait on each other in a cycle. */
const byKey = (entries: ThrottleKey[]) => {
  const sorted = [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { keys: sorted.map((e) => e.key), kinds: sorted.map((e) => e.kind) };
};

/**
 * Reserves one attempt on each key (pending + 1), creating missing rows, in one statement.
 * `staleSeconds` after the first of a run of reservations, the count starts again: one whose
 * process died mid-login (or whose release failed) counts no longer than that.
 * Run it in a transaction: the rows stay locked until it ends, so the caller can compare the
 * counters with its limits and roll the reservation back, and the next caller sees the result.
 */
export async function reserveAttempt(
  sql: Db,
  entries: ThrottleKey[],
  windowSeconds: number,
  staleSeconds: number,
): Promise<ReservedCounts[]> {
  const { keys, kinds } = byKey(entries);
  return await sql<ReservedCounts[]>`
    insert into login_throttle as t
      (key, kind, failures, window_start, last_failure, pending, pending_until)
    select k, kd, 0, now(), now(), 1, now() + make_interval(secs => ${staleSeconds})
    from unnest(${keys}::text[], ${kinds}::text[]) with ordinality as u(k, kd, n)
    order by n
    on conflict (key) do update set
      -- The expiry is set by the first reservation after the last one expired and is not
      -- pushed on by later ones: a leaked reservation stops counting within staleSeconds
      -- even while the key keeps getting logins.
      pending = case when t.pending_until is null or t.pending_until < now()
                     then 1 else t.pending + 1 end,
      pending_until = case when t.pending_until is null or t.pending_until < now()
                           then now() + make_interval(secs => ${staleSeconds})
                           else t.pending_until end
    returning key,
      case when window_start < now() - make_interval(secs => ${windowSeconds})
           then 0 else failures end as failures,
      pending,
      ceil(extract(epoch from
        window_start + make_interval(secs => ${windowSeconds}) - now()))::int as window_left`;
}

/**
 * Turns one reserved attempt on each key into a failure. A window that is over, or that holds
 * no failure yet, restarts with this one. Returns the failures after it.
 */
export async function recordFailures(
  sql: Db,
  entries: ThrottleKey[],
  windowSeconds: number,
): Promise<Array<{ key: string; failures: number }>> {
  const { keys, kinds } = byKey(entries);
  return await sql<Array<{ key: string; failures: number }>>`
    insert into login_throttle as t (key, kind, failures, window_start, last_failure, pending)
    select k, kd, 1, now(), now(), 0
    from unnest(${keys}::text[], ${kinds}::text[]) with ordinality as u(k, kd, n)
    order by n
    on conflict (key) do update set
      failures = case when t.failures = 0
                        or t.window_start < now() - make_interval(secs => ${windowSeconds})
                      then 1 else t.failures + 1 end,
      window_start = case when t.failures = 0
                            or t.window_start < now() - make_interval(secs => ${windowSeconds})
                          then now() else t.window_start end,
      last_failure = now(),
      pending = greatest(t.pending - 1, 0)
    returning key, failures`;
}

/** Releases one reserved attempt without counting a failure. */
export async function releaseAttempt(sql: Db, key: string): Promise<void> {
  await sql`update login_throttle set pending = greatest(pending - 1, 0) where key = ${key}`;
}

/**
 * A correct password on this key: its failures are forgiven and its reservation released. The
 * row goes when nothing else is in flight; attempts still in flight keep their reservations.
 */
export async function forgiveAttempt(sql: Db, key: string): Promise<void> {
  const gone = await sql`delete from login_throttle where key = ${key} and pending <= 1`;
  if (gone.count > 0) return;
  await sql`
    update login_throttle set failures = 0, pending = greatest(pending - 1, 0) where key = ${key}`;
}

export async function clearThrottle(sql: Db, key: string): Promise<void> {
  await sql`delete from login_throttle where key = ${key}`;
}

/**
 * Drops counters whose window is over and that have nothing in flight, so the table stays as
 * small as the current attack. Rows locked by a login are skipped (it would otherwise wait on
 * them holding locks that login may need next: a deadlock).
 */
export async function pruneThrottle(sql: Db, windowSeconds: number): Promise<number> {
  const r = await sql`
    delete from login_throttle where key in (
      select key from login_throttle
      where window_start < now() - make_interval(secs => ${windowSeconds})
        and (pending = 0 or pending_until < now())
      for update skip locked)`;
  return r.count;
}
