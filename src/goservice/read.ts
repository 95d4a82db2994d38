/**
 * Reads the old Go service's tables, never writes them: one read-only transaction gives one
 * consistent snapshot of every table, even while the old service still runs.
 */
import { connect, type ConnectOptions, type Db, type Sql } from "../db/db.ts";
import type { OldMapping, OldSubmission, OldToken, OldUser } from "./plan.ts";

/** The old database: its tables in `public`, where golang-migrate put them. */
export function connectOld(url: string, timeouts?: ConnectOptions["timeouts"]): Sql {
  return connect({
    url,
    max: 1,
    searchPath: "public",
    applicationName: "dhis2gw-import",
    timeouts,
  });
}

const NEEDED = ["users", "user_apitoken", "dhis2_mappings", "submission_log"] as const;

/** Which of the old service's tables `public` lacks; [] for a database of the old service. */
export async function missingOldTables(sql: Db): Promise<string[]> {
  const rows = await sql<{ name: string; found: boolean }[]>`
    select name, to_regclass('public.' || name) is not null as found
    from unnest(${NEEDED as unknown as string[]}::text[]) as name`;
  return rows.filter((r) => !r.found).map((r) => r.name);
}

export function readUsers(sql: Db): Promise<OldUser[]> {
  // Rows the old API never managed to fill (NULL email, empty uid) are normal here.
  return sql<OldUser[]>`
    select u.id, u.uid, u.username, u.password, u.firstname, u.lastname, u.telephone, u.email,
           u.is_active, u.is_admin_user, r.name as role_name
    from public.users u left join public.user_roles r on r.id = u.user_role
    order by u.id`;
}

export function readTokens(sql: Db): Promise<OldToken[]> {
  return sql<OldToken[]>`
    select id, user_id, token, is_active, expires_at from public.user_apitoken order by id`;
}

export function readMappings(sql: Db): Promise<OldMapping[]> {
  // `select *`: the old migrations 5-7 added columns, an older install lacks them.
  return sql<OldMapping[]>`select * from public.dhis2_mappings order by id`;
}

/**
 * The submission log in id order, `batch` rows at a time (a cursor: the table can be large).
 * `submitted_at` is a timestamp without time zone written with NOW(), so it is read in the
 * session's time zone, the one the old service's own connection wrote it in.
 */
export function readSubmissions(sql: Db, batch = 500): AsyncIterable<OldSubmission[]> {
  return sql<OldSubmission[]>`
    select id, submitted_at::timestamptz as submitted_at,
           last_attempt_at::timestamptz as last_attempt_at, payload::text as payload_text,
           status, task_id, response, errors, dhis2_payload
    from public.submission_log order by id`.cursor(batch);
}

export async function countSubmissions(sql: Db): Promise<number> {
  const [r] = await sql<{ n: number }[]>`select count(*)::int as n from public.submission_log`;
  return r.n;
}
