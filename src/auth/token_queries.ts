/** SQL for api_tokens and refresh_tokens. Only hashes are stored, never a secret. */
import type { Db } from "../db/db.ts";
import type { Role } from "./principal.ts";

export interface ApiTokenRow {
  id: number;
  user_id: number;
  name: string;
  prefix: string;
  source_name: string | null;
  created: Date;
  last_used: Date | null;
  expires: Date;
  revoked_at: Date | null;
}

/** What the auth middleware needs from one Token header: the token and its owner. */
export interface TokenCredential {
  token_id: number;
  token_expires: Date;
  token_revoked_at: Date | null;
  token_source_name: string | null;
  user_id: number;
  uid: string;
  username: string;
  role: Role;
  is_active: boolean;
  source_name: string;
  token_generation: number;
}

export async function tokenCredential(
  sql: Db,
  tokenHash: string,
): Promise<TokenCredential | undefined> {
  const [row] = await sql<TokenCredential[]>`
    select t.id as token_id, t.expires as token_expires, t.revoked_at as token_revoked_at,
           t.source_name as token_source_name, u.id as user_id, u.uid, u.username, u.role,
           u.is_active, u.source_name, u.token_generation
    from api_tokens t join users u on u.id = t.user_id
    where t.token_hash = ${tokenHash}`;
  return row;
}

/**
 * Locks a user's row until the end of the caller's transaction, against a password change,
 * reset or deactivation (each an UPDATE of that row), and returns its `token_generation`;
 * undefined for no such user. A token stored under this lock is either committed before the
 * change, whose revocation then sees it, or refused by the caller because the generation moved
 * on while its credentials were checked: no token outlives a reset it raced.
 */
export async function lockUserCredentials(sql: Db, userId: number): Promise<number | undefined> {
  const [row] = await sql<{ token_generation: number }[]>`
    select token_generation from users where id = ${userId} for share`;
  return row?.token_generation;
}

export async function insertApiToken(
  sql: Db,
  t: {
    user_id: number;
    name: string;
    prefix: string;
    token_hash: string;
    source_name: string | null;
    expires: Date;
  },
): Promise<ApiTokenRow> {
  const [row] = await sql<ApiTokenRow[]>`
    insert into api_tokens (user_id, name, prefix, token_hash, source_name, expires)
    values (${t.user_id}, ${t.name}, ${t.prefix}, ${t.token_hash}, ${t.source_name}, ${t.expires})
    returning id, user_id, name, prefix, source_name, created, last_used, expires, revoked_at`;
  return row;
}

export async function listApiTokens(sql: Db, userId: number): Promise<ApiTokenRow[]> {
  return await sql<ApiTokenRow[]>`
    select id, user_id, name, prefix, source_name, created, last_used, expires, revoked_at
    from api_tokens where user_id = ${userId} order by created desc, id desc`;
}

/** Revokes one token of one user; undefined when that user has no such token. */
export async function revokeApiToken(
  sql: Db,
  userId: number,
  tokenId: number,
): Promise<ApiTokenRow | undefined> {
  const [row] = await sql<ApiTokenRow[]>`
    update api_tokens set revoked_at = coalesce(revoked_at, now())
    where id = ${tokenId} and user_id = ${userId}
    returning id, user_id, name, prefix, source_name, created, last_used, expires, revoked_at`;
  return row;
}

/**
 * Revokes every live API token of a user (a password change or reset) and returns how many.
 * The caller forgets the user's cached credentials.
 */
export async function revokeUserApiTokens(sql: Db, userId: number): Promise<number> {
  const r = await sql`
    update api_tokens set revoked_at = now() where user_id = ${userId} and revoked_at is null`;
  return r.count;
}

/**
 * Brings tokens that expire later than `maxDays` from now down to that: run at start, so
 * lowering auth.token_max_lifetime_days applies to tokens made before, too.
 */
export async function clampApiTokenExpiry(sql: Db, maxDays: number): Promise<number> {
  // Rows locked in id order: replicas starting together wait on each other, never deadlock.
  const r = await sql`
    update api_tokens set expires = now() + make_interval(days => ${maxDays})
    where id in (
      select id from api_tokens
      where revoked_at is null and expires > now() + make_interval(days => ${maxDays})
      order by id for update)
      and expires > now() + make_interval(days => ${maxDays})`;
  return r.count;
}

/** Renames a token or changes its source; `source_name: null` falls back to the user's. */
export async function updateApiToken(
  sql: Db,
  userId: number,
  tokenId: number,
  changes: { name?: string; source_name?: string | null },
): Promise<ApiTokenRow | undefined> {
  const cols = Object.fromEntries(
    Object.entries(changes).filter(([, v]) => v !== undefined),
  );
  if (Object.keys(cols).length === 0) {
    const [row] = await sql<ApiTokenRow[]>`
      select id, user_id, name, prefix, source_name, created, last_used, expires, revoked_at
      from api_tokens where id = ${tokenId} and user_id = ${userId}`;
    return row;
  }
  const [row] = await sql<ApiTokenRow[]>`
    update api_tokens set ${sql(cols)} where id = ${tokenId} and user_id = ${userId}
    returning id, user_id, name, prefix, source_name, created, last_used, expires, revoked_at`;
  return row;
}

/** One UPDATE for a whole batch of last-use times; never moves a time backwards. */
export async function touchApiTokens(
  sql: Db,
  uses: Array<{ id: number; at: Date }>,
): Promise<void> {
  if (uses.length === 0) return;
  await sql`
    update api_tokens t set last_used = greatest(t.last_used, v.at)
    from unnest(
      ${uses.map((u) => u.id)}::bigint[],
      -- ISO text: postgres.js sends an array of Dates as one timestamptz, not an array.
      ${uses.map((u) => u.at.toISOString())}::timestamptz[]
    ) as v(id, at)
    where t.id = v.id`;
}

// ---- refresh tokens

export interface RefreshRow {
  id: number;
  user_id: number;
  family_id: string;
  expires: Date;
  used_at: Date | null;
  revoked_at: Date | null;
  /** When the family's login checked the password; null for families from before 0007. */
  auth_time: Date | null;
  /** The user's token generation at issue; null for tokens from before 0010. */
  token_generation: number | null;
}

export async function insertRefreshToken(
  sql: Db,
  r: {
    user_id: number;
    family_id: string;
    token_hash: string;
    expires: Date;
    auth_time: Date | null;
    token_generation: number;
  },
): Promise<void> {
  await sql`
    insert into refresh_tokens (user_id, family_id, token_hash, expires, auth_time, token_generation)
    values (${r.user_id}, ${r.family_id}, ${r.token_hash}, ${r.expires}, ${r.auth_time},
            ${r.token_generation})`;
}

/** Locks the row, so two refreshes with the same token are decided one after the other. */
export async function refreshTokenForUpdate(
  sql: Db,
  tokenHash: string,
): Promise<RefreshRow | undefined> {
  const [row] = await sql<RefreshRow[]>`
    select id, user_id, family_id, expires, used_at, revoked_at, auth_time, token_generation
    from refresh_tokens where token_hash = ${tokenHash} for update`;
  return row;
}

export async function markRefreshUsed(sql: Db, id: number): Promise<void> {
  await sql`update refresh_tokens set used_at = now() where id = ${id}`;
}

export async function revokeRefreshFamily(sql: Db, familyId: string): Promise<number> {
  const r = await sql`
    update refresh_tokens set revoked_at = now()
    where family_id = ${familyId} and revoked_at is null`;
  return r.count;
}

/** Ends every session of a user (password change, deactivation). */
export async function revokeUserRefreshTokens(sql: Db, userId: number): Promise<number> {
  const r = await sql`
    update refresh_tokens set revoked_at = now() where user_id = ${userId} and revoked_at is null`;
  return r.count;
}
