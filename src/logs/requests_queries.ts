/** Reads and prunes request_log (the table request_log.ts writes). */
import type { Db } from "../db/db.ts";
import { type TimeBound, timeWhere } from "../db/time_bounds.ts";

export interface RequestFilter {
  /** Case-insensitive; matches verified and claimed (unverified) usernames alike. */
  username?: string;
  /** An exact status, or a range ("4xx", "refused" = 400-599). */
  status?: { min: number; max: number };
  /** Paths starting with this. */
  path?: string;
  from?: TimeBound;
  to?: TimeBound;
}

export interface RequestRow {
  id: number;
  at: Date;
  request_id: string;
  method: string;
  path: string;
  status: number;
  duration_ms: number;
  user_uid: string | null;
  username: string | null;
  identity_verified: boolean | null;
  token_prefix: string | null;
  client_ip: string | null;
  error_code: string | null;
  error_message: string | null;
  error_fields: string[] | null;
}

function where(sql: Db, f: RequestFilter, tz: string) {
  return sql`
    ${f.username ? sql`lower(username) = lower(${f.username})` : sql`true`}
    and ${f.status ? sql`status between ${f.status.min} and ${f.status.max}` : sql`true`}
    and ${f.path ? sql`starts_with(path, ${f.path})` : sql`true`}
    and ${timeWhere(sql, f.from, f.to, tz)}`;
}

export async function listRequests(
  sql: Db,
  f: RequestFilter,
  page: { page: number; pageSize: number },
  tz: string,
): Promise<{ items: RequestRow[]; total: number }> {
  const [items, [{ total }]] = await Promise.all([
    sql<RequestRow[]>`
      select id::int, at, request_id, method, path, status, duration_ms, user_uid, username,
        identity_verified, token_prefix, client_ip, error_code, error_message, error_fields
      from request_log where ${where(sql, f, tz)}
      order by at desc, id desc
      limit ${page.pageSize} offset ${(page.page - 1) * page.pageSize}`,
    sql<{ total: number }[]>`
      select count(*)::int as total from request_log where ${where(sql, f, tz)}`,
  ]);
  return { items: [...items], total };
}

/** Deletes request log rows older than `retentionDays` (0 keeps them), in batches. */
export async function pruneRequestLog(sql: Db, retentionDays: number, batch = 5000) {
  if (retentionDays <= 0) return 0;
  let total = 0;
  for (;;) {
    const rows = await sql`
      delete from request_log where id in (
        select id from request_log
        where at < now() - make_interval(days => ${retentionDays})
        limit ${batch})
      returning 1`;
    total += rows.length;
    if (rows.length < batch) return total;
  }
}
