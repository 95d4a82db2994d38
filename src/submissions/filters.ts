/**
 * The submission log filters, shared by GET /api/v3/logs and the batch requeue: parsed
 * strictly (a bad value is a 422 naming it, never silently ignored as the old service did,
 * §10.1-19) and turned into a postgres.js fragment, never into SQL text.
 */
import type postgres from "postgres";
import type { Db } from "../db/db.ts";
import type { FieldProblem } from "../http/errors.ts";
import { STATUSES, type SubmissionStatus } from "../queue/queries.ts";

export interface LogFilter {
  statuses?: SubmissionStatus[];
  ids?: number[];
  taskIds?: string[];
  /** Inclusive days `YYYY-MM-DD` in server.timezone. */
  fromDate?: string;
  toDate?: string;
  orgUnit?: string;
  dataSet?: string;
  period?: string;
  /** Username of the submitter. */
  user?: string;
  /** Substring of the last error. */
  q?: string;
  /**
   * Submissions with a delivery to this destination; with `statuses`, that delivery's status
   * is the one matched (training's dead ones), not the submission's summary.
   */
  destination?: string;
  /** `aggregate` or `tracker`. */
  kind?: string;
  /** Forced to the caller's uid for submitters, who see only their own submissions. */
  userUid?: string;
}

/** Query names: the new ones, and the old service's aliases (job_id, task_id, submitted_at). */
export const FILTER_KEYS = [
  "status",
  "submission_id",
  "job_id",
  "task_id",
  "from_date",
  "to_date",
  "submitted_at",
  "orgUnit",
  "dataSet",
  "period",
  "user",
  "q",
  "destination",
  "kind",
] as const;

/** The kinds of submission (src/aggregate/, src/tracker/), for the `kind` filter. */
export const SUBMISSION_KINDS = ["aggregate", "tracker"] as const;

/**
 * The old service's names (job_id, task_id, submitted_at): accepted for its clients, not
 * offered to new ones; the console's filters are FILTER_KEYS without these.
 */
export const OLD_FILTER_KEYS: readonly (typeof FILTER_KEYS)[number][] = [
  "job_id",
  "task_id",
  "submitted_at",
];

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A real calendar day written `YYYY-MM-DD`. */
export function isDay(s: string): boolean {
  const m = DAY.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  return d.getUTCFullYear() === +m[1] && d.getUTCMonth() === +m[2] - 1 && d.getUTCDate() === +m[3];
}

/** Several values may come repeated (`?status=a&status=b`) or comma-separated (`a,b`). */
function list(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
}

/**
 * Parses filters from query-like input (`c.req.queries()`, or a JSON body turned into lists).
 * A name that is neither a filter nor one of `also` (the list's paging) is a problem too: an
 * ignored misspelt filter (`org_unit`) would silently return, or requeue, everything.
 */
export function parseLogFilter(
  input: Record<string, readonly string[] | undefined>,
  also: readonly string[] = ["page", "page_size"],
): { filter: LogFilter; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const filter: LogFilter = {};
  const known = new Set<string>([...FILTER_KEYS, ...also]);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) {
      problems.push({
        field: key,
        message: `is not a filter; the filters are ${FILTER_KEYS.join(", ")}`,
      });
    }
  }
  const one = (key: string): string | undefined => {
    const v = list(input[key]);
    if (v.length > 1) problems.push({ field: key, message: "give one value" });
    return v[0];
  };

  const statuses = list(input.status);
  for (const s of statuses) {
    if (!STATUSES.includes(s as SubmissionStatus)) {
      problems.push({ field: "status", message: `"${s}" is not one of ${STATUSES.join(", ")}` });
    }
  }
  if (statuses.length) filter.statuses = [...new Set(statuses)] as SubmissionStatus[];

  const ids = [...list(input.submission_id), ...list(input.job_id)];
  for (const id of ids) {
    if (!/^\d{1,15}$/.test(id)) {
      problems.push({ field: "submission_id", message: `"${id}" is not a submission id` });
    }
  }
  if (ids.length) filter.ids = ids.map(Number);

  const taskIds = list(input.task_id);
  for (const t of taskIds) {
    if (!UUID.test(t)) problems.push({ field: "task_id", message: `"${t}" is not a task id` });
  }
  if (taskIds.length) filter.taskIds = taskIds.map((t) => t.toLowerCase());

  const day = one("submitted_at");
  for (
    const [key, value] of [["from_date", one("from_date") ?? day], [
      "to_date",
      one("to_date") ?? day,
    ]] as const
  ) {
    if (value === undefined) continue;
    if (!isDay(value)) {
      problems.push({ field: key, message: `"${value}" is not a date (YYYY-MM-DD)` });
    } else if (key === "from_date") filter.fromDate = value;
    else filter.toDate = value;
  }
  if (filter.fromDate && filter.toDate && filter.fromDate > filter.toDate) {
    problems.push({ field: "to_date", message: "is before from_date" });
  }

  for (const key of ["orgUnit", "dataSet", "period", "user", "q", "destination"] as const) {
    const v = one(key);
    if (v !== undefined) filter[key] = v;
  }
  const kind = one("kind");
  if (kind !== undefined) {
    if ((SUBMISSION_KINDS as readonly string[]).includes(kind)) filter.kind = kind;
    else {
      problems.push({ field: "kind", message: `must be one of ${SUBMISSION_KINDS.join(", ")}` });
    }
  }
  return { filter, problems };
}

export function hasFilter(f: LogFilter): boolean {
  return Object.entries(f).some(([k, v]) => k !== "userUid" && v !== undefined);
}

/**
 * The WHERE condition for `f` over an unaliased `submissions`; `true` without filters. Days are
 * read in `timezone`. `q` searches the last error of any of the submission's deliveries.
 */
export function filterSql(sql: Db, f: LogFilter, timezone: string): postgres.Fragment {
  const c: postgres.Fragment[] = [];
  if (f.destination) {
    c.push(sql`exists (
      select 1 from deliveries x
      where x.submission_id = submissions.id and x.destination = ${f.destination}
        ${f.statuses ? sql`and x.status in ${sql(f.statuses)}` : sql``}
    )`);
  } else if (f.statuses) {
    // A summary is always one of its deliveries' statuses, so the second condition changes
    // nothing but lets a rare status be found by deliveries_status_submission_idx (0020).
    c.push(sql`status in ${sql(f.statuses)} and id in (
      select submission_id from deliveries where status in ${sql(f.statuses)}
    )`);
  }
  if (f.ids) c.push(sql`id in ${sql(f.ids)}`);
  if (f.taskIds) c.push(sql`task_id in ${sql(f.taskIds)}`);
  if (f.fromDate) {
    c.push(sql`created_at >= ((${f.fromDate}::date)::timestamp at time zone ${timezone})`);
  }
  if (f.toDate) {
    c.push(sql`created_at < ((${f.toDate}::date + 1)::timestamp at time zone ${timezone})`);
  }
  if (f.orgUnit) c.push(sql`org_unit = ${f.orgUnit}`);
  if (f.dataSet) c.push(sql`data_set = ${f.dataSet}`);
  if (f.period) c.push(sql`period = ${f.period}`);
  if (f.user) c.push(sql`username = ${f.user}`);
  if (f.kind) c.push(sql`kind = ${f.kind}`);
  if (f.userUid) c.push(sql`user_uid = ${f.userUid}`);
  if (f.q) {
    const pattern = `%${f.q.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
    c.push(sql`exists (
      select 1 from deliveries q
      where q.submission_id = submissions.id and q.last_error ilike ${pattern}
    )`);
  }
  if (!c.length) return sql`true`;
  return c.reduce((acc, cond) => sql`${acc} and ${cond}`);
}
