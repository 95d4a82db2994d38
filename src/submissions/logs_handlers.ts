/**
 * The submission log API's handlers, one function per route (the routes and their OpenAPI
 * definitions: logs_routes.ts). Each takes the route's context and answers in the envelope
 * shapes of logs_schemas.ts.
 */
import type { Context } from "hono";
import type { Principal } from "../auth/principal.ts";
import { trackerDetail } from "../tracker/view.ts";
import type { Config } from "../config/config.ts";
import type { Db, Sql } from "../db/db.ts";
import type { AppEnv } from "../http/env.ts";
import { AppError, conflict, type FieldProblem, notFound } from "../http/errors.ts";
import { requeue, type RequeueCounts } from "../queue/requeue.ts";
import { filterSql, hasFilter, isDay, type LogFilter, parseLogFilter } from "./filters.ts";
import { deleteSubmission, getSubmission, listSubmissions, purgeSubmissions } from "./queries.ts";

export interface LogsDeps {
  config: Readonly<Config>;
  sql: Sql;
  /** Wakes this process's worker after a requeue. */
  wakeWorker: () => void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function invalid(problems: FieldProblem[]): AppError {
  return new AppError(
    "validation_failed",
    `invalid request: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`,
    { details: problems },
  );
}

/** A page number or size; a bad one is added to `problems`, so all are reported at once. */
function positiveInt(
  raw: string | undefined,
  field: string,
  dflt: number,
  max: number,
  problems: FieldProblem[],
): number {
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    problems.push({ field, message: `must be a whole number from 1 to ${max}` });
    return dflt;
  }
  return n;
}

/** The caller's view: submitters are confined to their own submissions. */
function scoped(filter: LogFilter, p: Principal): LogFilter {
  return p.role === "submitter" ? { ...filter, userUid: p.uid } : filter;
}

function submissionKey(raw: string): { id: number } | { taskId: string } | null {
  if (/^\d{1,15}$/.test(raw)) return { id: Number(raw) };
  if (UUID.test(raw)) return { taskId: raw.toLowerCase() };
  return null;
}

/** Filters from a JSON body: the same names as the query string, values as strings or lists. */
function filterFromBody(body: Record<string, unknown>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(body)) {
    if (v === undefined || v === null) continue;
    out[k] = (Array.isArray(v) ? v : [v]).map(String);
  }
  return out;
}

const principal = (c: Context<AppEnv>) => c.get("principal") as Principal;

const countsJson = (c: RequeueCounts) => ({
  matched: c.matched,
  requeued: c.requeued,
  running: c.running,
  already_queued: c.alreadyQueued,
});

async function requeueWhere(
  deps: LogsDeps,
  where: (tx: Db) => ReturnType<typeof filterSql>,
  by: string,
  destination?: string,
): Promise<RequeueCounts> {
  const counts = await requeue(deps.sql, where(deps.sql), by, destination);
  if (counts.requeued) deps.wakeWorker();
  return counts;
}

/** GET /logs: a page of the filtered list (a submitter sees only its own). */
export async function listLogs(deps: LogsDeps, c: Context<AppEnv>) {
  const { filter, problems } = parseLogFilter(c.req.queries());
  const page = positiveInt(c.req.query("page"), "page", 1, 1_000_000, problems);
  const pageSize = positiveInt(c.req.query("page_size"), "page_size", 20, 500, problems);
  if (problems.length) throw invalid(problems);
  const f = scoped(filter, principal(c));
  const tz = deps.config.server.timezone;
  const { items, total } = await listSubmissions(
    deps.sql,
    (tx) => filterSql(tx, f, tz),
    page,
    pageSize,
  );
  return c.json({
    items,
    total,
    page,
    page_size: pageSize,
    total_pages: Math.ceil(total / pageSize),
  }, 200);
}

/** DELETE /logs/purge: finished submissions created before a date (or statuses given). */
export async function purgeLogs(deps: LogsDeps, c: Context<AppEnv>) {
  const date = c.req.query("date") ?? "";
  if (!date.trim()) {
    throw invalid([{
      field: "date",
      message: "is required: submissions created before this day (YYYY-MM-DD, server time " +
        "zone) or time (RFC 3339) are deleted; purge never deletes everything by default",
    }]);
  }
  const { filter, problems } = parseLogFilter({ status: c.req.queries("status") });
  if (problems.length) throw invalid(problems);
  let before: Date;
  if (isDay(date)) {
    const [row] = await deps.sql<{ t: Date }[]>`
      select (${date}::date)::timestamp at time zone ${deps.config.server.timezone} as t`;
    before = row.t;
  } else if (/^\d{4}-\d{2}-\d{2}T/.test(date) && !isNaN(Date.parse(date))) {
    before = new Date(date);
  } else {
    throw invalid([{ field: "date", message: "must be RFC 3339 or YYYY-MM-DD" }]);
  }
  const deleted = await purgeSubmissions(deps.sql, before, filter.statuses);
  return c.json({
    message: `Deleted ${deleted} logs older than ${before.toISOString()}`,
    deleted,
  }, 200);
}

/** GET /logs/{id}: one submission by id or task id, with every attempt. */
export async function showLog(deps: LogsDeps, c: Context<AppEnv>) {
  const raw = c.req.param("id") ?? "";
  const key = submissionKey(raw);
  const row = key ? await getSubmission(deps.sql, key) : null;
  const p = principal(c);
  if (!row || (p.role === "submitter" && row.user_uid !== p.uid)) {
    throw notFound(`no submission ${raw}`);
  }
  return c.json(await trackerDetail(deps.sql, row, p.role === "admin"), 200);
}

/** Requeue one submission by id or task id (the new path and the old reenqueue paths). */
export async function requeueByKey(deps: LogsDeps, c: Context<AppEnv>, raw: string) {
  const key = submissionKey(raw);
  if (!key) throw notFound(`no submission ${raw}`);
  const where = (tx: Db) => "id" in key ? tx`id = ${key.id}` : tx`task_id = ${key.taskId}`;
  const destination = c.req.query("destination") || undefined;
  const counts = await requeueWhere(deps, where, principal(c).username, destination);
  if (!counts.matched) {
    // Say which: no such submission, or no delivery of it to that destination.
    if (destination && await getSubmission(deps.sql, key)) {
      throw notFound(`submission ${raw} has no delivery to destination "${destination}"`);
    }
    throw notFound(`no submission ${raw}`);
  }
  if (counts.running && !counts.requeued) {
    throw conflict("the submission is being delivered right now; requeue it once it finishes");
  }
  const row = await getSubmission(deps.sql, key);
  if (!row) throw notFound(`no submission ${raw}`);
  return c.json({
    message: counts.requeued
      ? `Re-enqueued task ${row.task_id} (submission ${row.id})`
      : `Submission ${row.id} is already queued`,
    submission_id: row.id,
    task_id: row.task_id,
    status: row.status,
    requeued: counts.requeued > 0,
  }, 200);
}

/** The old service's batch requeue: `{task_ids, queue}` with its reply shape kept. */
export async function oldBatchRequeue(deps: LogsDeps, c: Context<AppEnv>) {
  const body = await c.req.json().catch(() => null) as Record<string, unknown> | null;
  if (!body || !Array.isArray(body.task_ids) || body.task_ids.length === 0) {
    throw invalid([{ field: "task_ids", message: "must be a non-empty list of task ids" }]);
  }
  const queue = typeof body.queue === "string" ? body.queue : "dead";
  const taskIds = body.task_ids.map(String);
  const bad = taskIds.filter((t) => !UUID.test(t));
  const good = taskIds.filter((t) => UUID.test(t)).map((t) => t.toLowerCase());
  const counts = good.length
    ? await requeueWhere(deps, (tx) => tx`task_id in ${tx(good)}`, principal(c).username)
    : { matched: 0, requeued: 0, running: 0, alreadyQueued: 0 };
  const failed = bad.length + (good.length - counts.matched) + counts.running;
  const errors = bad.map((t) => `Task ${t}: not a task id`);
  if (good.length > counts.matched) {
    errors.push(`${good.length - counts.matched} task id(s) not found`);
  }
  if (counts.running) errors.push(`${counts.running} task(s) running, not requeued`);
  return c.json(
    { queue, reEnqueued: counts.requeued, failed, errors, ...countsJson(counts) },
    200,
  );
}

/** The selection a requeue names: `{ids}`, `{task_ids}`, `{filter}` or the query's filters. */
async function requeueSelection(c: Context<AppEnv>): Promise<LogFilter> {
  const text = await c.req.text();
  let body: Record<string, unknown> = {};
  if (text.trim()) {
    try {
      body = JSON.parse(text);
    } catch {
      throw new AppError("bad_request", "malformed JSON body");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw invalid([{ field: "(body)", message: "must be a JSON object" }]);
    }
  }
  const ids = body.ids ?? body.submission_ids;
  const selectors = [ids, body.task_ids, body.filter].filter((v) => v !== undefined);
  if (selectors.length > 1) {
    throw invalid([{ field: "(body)", message: "give one of ids, task_ids or filter" }]);
  }
  let input: Record<string, readonly string[] | undefined>;
  if (ids !== undefined) input = { submission_id: filterFromBody({ ids }).ids };
  else if (body.task_ids !== undefined) input = { task_id: filterFromBody(body).task_ids };
  else if (typeof body.filter === "object" && body.filter !== null) {
    input = filterFromBody(body.filter as Record<string, unknown>);
  } else input = c.req.queries();
  const { filter, problems } = parseLogFilter(input);
  if (problems.length) throw invalid(problems);
  // Requeueing "everything" is never what an operator meant.
  if (!hasFilter(filter)) {
    throw invalid([{ field: "filter", message: "give ids, task_ids or at least one filter" }]);
  }
  return filter;
}

/** POST /logs/requeue: every submission the selection matches. */
export async function requeueMatching(deps: LogsDeps, c: Context<AppEnv>) {
  const filter = await requeueSelection(c);
  const tz = deps.config.server.timezone;
  const counts = await requeueWhere(
    deps,
    (tx) => filterSql(tx, filter, tz),
    principal(c).username,
    // With a destination filter only that destination's deliveries go back to the queue.
    filter.destination,
  );
  return c.json(countsJson(counts), 200);
}

/** DELETE /logs/{id}: one submission and its attempts, never while it is being delivered. */
export async function deleteLog(deps: LogsDeps, c: Context<AppEnv>) {
  const raw = c.req.param("id") ?? "";
  const key = submissionKey(raw);
  const row = key ? await getSubmission(deps.sql, key) : null;
  if (!row) throw notFound(`no submission ${raw}`);
  const result = await deleteSubmission(deps.sql, row.id);
  if (result === "not_found") throw notFound(`no submission ${raw}`);
  if (result === "running") {
    throw conflict("the submission is being delivered right now; delete it once it finishes");
  }
  return c.json({ message: "Deleted 1 log(s)", submission_id: row.id }, 200);
}
