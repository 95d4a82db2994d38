/**
 * The submission log API, on the old service's paths with fixed behaviour (§5): filters that
 * work and are validated, plain JSON rows, requeue by id, task id, ids or filters, delete and
 * purge that never touch a running delivery.
 *
 * Roles: viewers and admins read everything; a submitter reads only its own submissions (the
 * list is filtered to them, another's id is a 404), so a source system can follow up on what
 * it sent without seeing other sources' data. Only admins requeue, delete and purge.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { secureRoute } from "../auth/guard.ts";
import type { Principal } from "../auth/principal.ts";
import type { Config } from "../config/config.ts";
import type { Db, Sql } from "../db/db.ts";
import { newRouter } from "../http/router.ts";
import type { AppEnv } from "../http/env.ts";
import { AppError, conflict, type FieldProblem, notFound } from "../http/errors.ts";
import { requeue, type RequeueCounts } from "../queue/requeue.ts";
import { filterSql, hasFilter, isDay, type LogFilter, parseLogFilter } from "./filters.ts";
import {
  DeleteReply,
  FilterQuery,
  ListQuery,
  OldBatchBody,
  OldBatchReply,
  PurgeQuery,
  PurgeReply,
  REQUEUE_EXAMPLES,
  RequeueBody,
  RequeueCountsSchema,
  RequeueOneReply,
  SubmissionDetailSchema,
  SubmissionPageSchema,
} from "./logs_schemas.ts";
import { deleteSubmission, getSubmission, listSubmissions, purgeSubmissions } from "./queries.ts";

export interface LogsDeps {
  config: Readonly<Config>;
  sql: Sql;
  /** Wakes this process's worker after a requeue. */
  wakeWorker: () => void;
}

const READERS = ["viewer", "admin", "submitter"] as const;
const ADMIN = ["admin"] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const json = <T>(description: string, schema: T) => ({
  description,
  content: { "application/json": { schema } },
});
// Error responses are declared by description: docs.ts gives them the error envelope.
const notFoundReply = { 404: { description: "no such submission" } };
const runningReply = { 409: { description: "being delivered right now" } };
const idParam = z.object({ id: z.string().openapi({ description: "submission id or task id" }) });
/**
 * These two bodies are validated by their handlers (the messages, and an empty body meaning
 * "use the query string", are part of the API). zod-openapi validates only zod schemas, so the
 * routes name the registered schema instead of passing it.
 */
const documentedOnly = (name: string) => ({ $ref: `#/components/schemas/${name}` }) as never;

function invalid(problems: FieldProblem[]): AppError {
  return new AppError(
    "validation_failed",
    `invalid request: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`,
    { details: problems },
  );
}

function positiveInt(raw: string | undefined, field: string, dflt: number, max: number): number {
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw invalid([{ field, message: `must be a whole number from 1 to ${max}` }]);
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

const list = secureRoute({
  method: "get",
  path: "/api/v2/logs",
  tags: ["logs"],
  summary: "Submissions, newest first, filtered and paged",
  roles: READERS,
  request: { query: ListQuery },
  responses: {
    200: json("a page", SubmissionPageSchema),
    422: { description: "a filter, page or page_size is invalid or unknown (each is named)" },
  },
});
const detail = secureRoute({
  method: "get",
  path: "/api/v2/logs/{id}",
  tags: ["logs"],
  summary: "One submission with its request, DHIS2 payload, response, conflicts and attempts",
  roles: READERS,
  request: { params: idParam },
  responses: { 200: json("the submission", SubmissionDetailSchema), ...notFoundReply },
});
const requeueOne = secureRoute({
  method: "post",
  path: "/api/v2/logs/{id}/requeue",
  tags: ["logs"],
  summary: "Deliver a submission again, now, with a fresh retry budget",
  roles: ADMIN,
  request: { params: idParam },
  responses: {
    200: json("requeued, or already queued", RequeueOneReply),
    ...notFoundReply,
    ...runningReply,
  },
});
const oldRequeueParams = z.object({ task_id: z.string() });
const oldRequeueGet = secureRoute({
  method: "get",
  path: "/api/v2/aggregate/reenqueue/{task_id}",
  tags: ["logs"],
  summary: "Old path of POST /api/v2/logs/{id}/requeue, by task id",
  roles: ADMIN,
  request: { params: oldRequeueParams },
  responses: {
    200: json("requeued, or already queued", RequeueOneReply),
    404: { description: "no such task" },
    ...runningReply,
  },
});
const oldRequeuePost = secureRoute({ ...oldRequeueGet, method: "post" });
const requeueMany = secureRoute({
  method: "post",
  path: "/api/v2/logs/requeue",
  tags: ["logs"],
  summary: "Requeue by ids ({ids} or {task_ids}) or by the list's filters ({filter} or query)",
  roles: ADMIN,
  request: {
    query: FilterQuery,
    body: {
      required: false,
      content: {
        "application/json": {
          schema: documentedOnly("RequeueRequest"),
          examples: REQUEUE_EXAMPLES,
        },
      },
    },
  },
  responses: {
    200: json("what matched, and what was requeued or skipped", RequeueCountsSchema),
    400: { description: "the body is not JSON" },
    422: { description: "no filter at all, several selectors, or an invalid or unknown filter" },
  },
});
const oldBatch = secureRoute({
  method: "post",
  path: "/api/v2/aggregate/reenqueue/batch",
  tags: ["logs"],
  summary: "Old batch requeue: {queue, task_ids}",
  roles: ADMIN,
  request: {
    body: {
      required: true,
      content: { "application/json": { schema: documentedOnly("OldBatchRequeueRequest") } },
    },
  },
  responses: {
    200: json("the old reply's fields, and the requeue counts", OldBatchReply),
    422: { description: "task_ids is missing or empty" },
  },
});
const purge = secureRoute({
  method: "delete",
  path: "/api/v2/logs/purge",
  tags: ["logs"],
  summary: "Delete submissions created before `date` (finished ones, or those in `status`)",
  roles: ADMIN,
  request: { query: PurgeQuery },
  responses: {
    200: json("how many were deleted", PurgeReply),
    422: { description: "bad date or status" },
  },
});
const remove = secureRoute({
  method: "delete",
  path: "/api/v2/logs/{id}",
  tags: ["logs"],
  summary: "Delete one submission and its attempts (not while it is being delivered)",
  roles: ADMIN,
  request: { params: idParam },
  responses: { 200: json("deleted", DeleteReply), ...notFoundReply, ...runningReply },
});

export function logsRoutes(deps: LogsDeps) {
  const { sql, config } = deps;
  const tz = config.server.timezone;
  const principal = (c: Context<AppEnv>) => c.get("principal") as Principal;

  const requeueWhere = async (where: (tx: Db) => ReturnType<typeof filterSql>, by: string) => {
    const counts = await requeue(sql, where(sql), by);
    if (counts.requeued) deps.wakeWorker();
    return counts;
  };
  const countsJson = (c: RequeueCounts) => ({
    matched: c.matched,
    requeued: c.requeued,
    running: c.running,
    already_queued: c.alreadyQueued,
  });

  const requeueByKey = async (c: Context<AppEnv>, raw: string) => {
    const key = submissionKey(raw);
    if (!key) throw notFound(`no submission ${raw}`);
    const where = (tx: Db) => "id" in key ? tx`id = ${key.id}` : tx`task_id = ${key.taskId}`;
    const counts = await requeueWhere(where, principal(c).username);
    if (!counts.matched) throw notFound(`no submission ${raw}`);
    if (counts.running) {
      throw conflict("the submission is being delivered right now; requeue it once it finishes");
    }
    const row = await getSubmission(sql, key);
    if (!row) throw notFound(`no submission ${raw}`);
    return c.json({
      message: counts.requeued
        ? `Re-enqueued task ${row.task_id} (submission ${row.id})`
        : `Submission ${row.id} is already queued`,
      submission_id: row.id,
      task_id: row.task_id,
      status: row.status,
      requeued: counts.requeued === 1,
    }, 200);
  };

  const router = newRouter();
  router.openAPIRegistry.register("RequeueRequest", RequeueBody);
  router.openAPIRegistry.register("OldBatchRequeueRequest", OldBatchBody);
  return router
    .openapi(list, async (c) => {
      const { filter, problems } = parseLogFilter(c.req.queries());
      const page = positiveInt(c.req.query("page"), "page", 1, 1_000_000);
      const pageSize = positiveInt(c.req.query("page_size"), "page_size", 20, 500);
      if (problems.length) throw invalid(problems);
      const f = scoped(filter, principal(c));
      const { items, total } = await listSubmissions(
        sql,
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
    })
    .openapi(purge, async (c) => {
      const date = c.req.query("date") ?? "";
      const { filter, problems } = parseLogFilter({ status: c.req.queries("status") });
      if (problems.length) throw invalid(problems);
      let before: Date;
      if (isDay(date)) {
        const [row] = await sql<{ t: Date }[]>`
          select (${date}::date)::timestamp at time zone ${tz} as t`;
        before = row.t;
      } else if (/^\d{4}-\d{2}-\d{2}T/.test(date) && !isNaN(Date.parse(date))) {
        before = new Date(date);
      } else {
        throw invalid([{ field: "date", message: "must be RFC 3339 or YYYY-MM-DD" }]);
      }
      const deleted = await purgeSubmissions(sql, before, filter.statuses);
      return c.json({
        message: `Deleted ${deleted} logs older than ${before.toISOString()}`,
        deleted,
      }, 200);
    })
    .openapi(detail, async (c) => {
      const raw = c.req.param("id");
      const key = submissionKey(raw);
      const row = key ? await getSubmission(sql, key) : null;
      const p = principal(c);
      if (!row || (p.role === "submitter" && row.user_uid !== p.uid)) {
        throw notFound(`no submission ${raw}`);
      }
      return c.json(row, 200);
    })
    .openapi(requeueOne, (c) => requeueByKey(c, c.req.param("id")))
    .openapi(oldBatch, async (c) => {
      const body = await c.req.json().catch(() => null) as Record<string, unknown> | null;
      if (!body || !Array.isArray(body.task_ids) || body.task_ids.length === 0) {
        throw invalid([{ field: "task_ids", message: "must be a non-empty list of task ids" }]);
      }
      const queue = typeof body.queue === "string" ? body.queue : "dead";
      const taskIds = body.task_ids.map(String);
      const bad = taskIds.filter((t) => !UUID.test(t));
      const good = taskIds.filter((t) => UUID.test(t)).map((t) => t.toLowerCase());
      const counts = good.length
        ? await requeueWhere((tx) => tx`task_id in ${tx(good)}`, principal(c).username)
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
    })
    .openapi(oldRequeueGet, (c) => requeueByKey(c, c.req.param("task_id")))
    .openapi(oldRequeuePost, (c) => requeueByKey(c, c.req.param("task_id")))
    .openapi(requeueMany, async (c) => {
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
      const by = principal(c).username;
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
      const counts = await requeueWhere((tx) => filterSql(tx, filter, tz), by);
      return c.json(countsJson(counts), 200);
    })
    .openapi(remove, async (c) => {
      const raw = c.req.param("id");
      const key = submissionKey(raw);
      const row = key ? await getSubmission(sql, key) : null;
      if (!row) throw notFound(`no submission ${raw}`);
      const result = await deleteSubmission(sql, row.id);
      if (result === "not_found") throw notFound(`no submission ${raw}`);
      if (result === "running") {
        throw conflict("the submission is being delivered right now; delete it once it finishes");
      }
      return c.json({ message: "Deleted 1 log(s)", submission_id: row.id }, 200);
    });
}
