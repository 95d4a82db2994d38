/** The audit trail (migration 0012): append-only, so only INSERT and SELECT live here. */
import type { Db } from "../db/db.ts";
import { type TimeBound, timeWhere } from "../db/time_bounds.ts";

export interface AuditEntry {
  actor_uid: string | null;
  actor_username: string;
  via: "api" | "cli";
  action: string;
  target: string | null;
  details: Record<string, unknown>;
  request_id: string | null;
  client_ip: string | null;
}

export interface AuditRow extends AuditEntry {
  id: number;
  at: Date;
}

export interface AuditFilter {
  actor?: string;
  /** An action, or its start (`mapping.` for every mapping action). */
  action?: string;
  target?: string;
  from?: TimeBound;
  to?: TimeBound;
}

export async function insertAudit(sql: Db, e: AuditEntry): Promise<void> {
  await sql`
    insert into audit_log (actor_uid, actor_username, via, action, target, details, request_id,
      client_ip)
    values (${e.actor_uid}, ${e.actor_username}, ${e.via}, ${e.action}, ${e.target},
      ${sql.json(e.details as never)}, ${e.request_id}, ${e.client_ip})`;
}

function where(sql: Db, f: AuditFilter, tz: string) {
  return sql`
    ${f.actor ? sql`lower(actor_username) = lower(${f.actor})` : sql`true`}
    and ${f.action ? sql`starts_with(action, ${f.action})` : sql`true`}
    and ${f.target ? sql`target = ${f.target}` : sql`true`}
    and ${timeWhere(sql, f.from, f.to, tz)}`;
}

export async function listAudit(
  sql: Db,
  f: AuditFilter,
  page: { page: number; pageSize: number },
  tz: string,
): Promise<{ items: AuditRow[]; total: number; byAction: Record<string, number> }> {
  const [items, counts] = await Promise.all([
    sql<AuditRow[]>`
      select id::int, at, actor_uid, actor_username, via, action, target, details, request_id,
        client_ip
      from audit_log where ${where(sql, f, tz)}
      order by at desc, id desc
      limit ${page.pageSize} offset ${(page.page - 1) * page.pageSize}`,
    sql<{ action: string; n: number }[]>`
      select action, count(*)::int as n from audit_log where ${where(sql, f, tz)}
      group by action order by action`,
  ]);
  const byAction = Object.fromEntries(counts.map((r) => [r.action, r.n]));
  const total = counts.reduce((a, r) => a + r.n, 0);
  return { items: [...items], total, byAction };
}

/** Every row the filter matches, oldest first, for the CSV export (capped by `limit`). */
export async function exportAudit(sql: Db, f: AuditFilter, tz: string, limit: number) {
  return [
    ...await sql<AuditRow[]>`
      select id::int, at, actor_uid, actor_username, via, action, target, details, request_id,
        client_ip
      from audit_log where ${where(sql, f, tz)}
      order by at, id limit ${limit}`,
  ];
}
