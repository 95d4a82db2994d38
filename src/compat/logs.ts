/**
 * GET /api/v2/logs and /api/v2/logs/:id in the old service's shapes (old-go-service.md §1.3,
 * §5.6) over GET /api/v3/logs and /api/v3/logs/{id}; the list's payloads come from
 * submissions' payloadsOf for the ids /api/v3/logs answered.
 *
 * The old list item is Go's `joblog.JobLog` as encoding/json writes it: nullable columns are
 * `{"String": …, "Valid": …}` / `{"Time": …, "Valid": …}` objects (its log viewer reads
 * `task_id.String`), and it carries the request, the DHIS2 payload and the reply. The old
 * detail is flat: `task_id`, `response` and `errors` are plain strings.
 */
import type { Context } from "hono";
import type { AppEnv } from "../http/env.ts";
import { isDay } from "../submissions/filters.ts";
import type { SubmissionStatus } from "../queue/queries.ts";
import { payloadsOf, type SubmissionPayloads } from "../submissions/queries.ts";
import type { Db } from "../db/db.ts";
import { type AppFetch, callV3, jsonOf } from "./forward.ts";
import { OLD_STATUS, statesFor } from "./status_names.ts";
import { AppError } from "../http/errors.ts";

interface V3Summary {
  id: number;
  task_id: string;
  status: SubmissionStatus;
  submitted_at: string;
  retry_count: number;
  last_error: string | null;
}

interface V3Detail extends V3Summary {
  payload: unknown;
  dhis2_payload: unknown;
  response: unknown;
}

interface V3Page {
  items: V3Summary[];
  total: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Go's zero time, what encoding/json writes for an invalid sql.NullTime. */
const GO_ZERO_TIME = "0001-01-01T00:00:00Z";
/** The largest page of /api/v3/logs. */
const MAX_PAGE_SIZE = 500;

const nullString = (s: string | null | undefined) => ({ String: s ?? "", Valid: s != null });
const asText = (v: unknown) => v == null ? null : typeof v === "string" ? v : JSON.stringify(v);

function whole(raw: string | undefined): number | undefined {
  return raw !== undefined && /^-?\d{1,9}$/.test(raw) ? Number(raw) : undefined;
}

/**
 * The old query (status, task_id, job_id, submitted_at, from_date, to_date, page, page_size)
 * as a v3 query, or null when it can match nothing (an unknown status or a malformed task
 * id, which the old exact match found nothing for). Like the old service, values it could not
 * parse are ignored and names it does not know (a cache-buster `_=…`) too.
 */
export function v3LogQuery(
  q: Record<string, string[]>,
): { query: URLSearchParams; page: number; pageSize: number } | null {
  // Old clients only ever sent aggregate data; a tracker item in the old JobLog shape would be
  // a payload they cannot read.
  const query = new URLSearchParams({ kind: "aggregate" });
  const first = (k: string) => q[k]?.[0];
  const status = first("status");
  if (status !== undefined && status !== "") {
    const states = status.split(",").flatMap((s) => statesFor(s.trim()));
    if (!states.length) return null;
    query.set("status", [...new Set(states)].join(","));
  }
  const taskId = first("task_id");
  if (taskId) {
    if (!UUID.test(taskId)) return null;
    query.set("task_id", taskId);
  }
  const jobId = first("job_id");
  if (jobId && /^\d{1,15}$/.test(jobId)) query.set("submission_id", jobId);
  for (const k of ["submitted_at", "from_date", "to_date"]) {
    const v = first(k);
    if (v && isDay(v)) query.set(k, v);
  }
  const from = query.get("from_date") ?? query.get("submitted_at");
  const to = query.get("to_date") ?? query.get("submitted_at");
  if (from && to && from > to) return null;
  const page = Math.max(1, whole(first("page")) ?? 1);
  let pageSize = whole(first("page_size")) ?? 10;
  if (pageSize <= 0) pageSize = 20;
  pageSize = Math.min(pageSize, MAX_PAGE_SIZE);
  query.set("page", String(page));
  query.set("page_size", String(pageSize));
  return { query, page, pageSize };
}

function oldItem(d: V3Summary, p: SubmissionPayloads) {
  const last = p.last_attempt_at?.toISOString();
  return {
    id: d.id,
    submitted_at: d.submitted_at,
    payload: p.payload,
    status: OLD_STATUS[d.status] ?? d.status,
    dhis2_payload: nullString(asText(p.dhis2_payload)),
    retry_count: d.retry_count,
    last_attempt: { Time: last ?? GO_ZERO_TIME, Valid: last !== undefined },
    task_id: nullString(d.task_id),
    response: nullString(asText(p.response)),
    errors: nullString(d.last_error),
  };
}

/** GET /api/v2/logs: `{items, total, page, total_pages, page_size}` with old items. */
export async function oldLogList(c: Context<AppEnv>, fetcher: AppFetch, sql: Db) {
  const parsed = v3LogQuery(c.req.queries());
  if (!parsed) {
    // Still authenticated and role-checked by v3, with a filter that matches nothing.
    const res = await callV3(c, fetcher, {
      path: "/logs",
      query: new URLSearchParams({ submission_id: "0", page_size: "1" }),
    });
    if (!res.ok) return res;
    const pageSize = Math.min(Math.max(whole(c.req.query("page_size")) ?? 10, 1), 500);
    const page = Math.max(1, whole(c.req.query("page")) ?? 1);
    return c.json({ items: [], total: 0, page, total_pages: 0, page_size: pageSize });
  }
  const res = await callV3(c, fetcher, { path: "/logs", query: parsed.query });
  if (!res.ok) return res;
  const list = await jsonOf<V3Page>(res);
  // The old item carries the request, payload and reply, which only the detail has: read for
  // the page's ids (which /api/v3/logs chose for this caller) in one query, not by a detail
  // call per item (1.1 s for 500 items; 3 queries and a whole request each).
  const extra = new Map(
    (await payloadsOf(sql, list.items.map((s) => s.id))).map((p) => [p.id, p]),
  );
  return c.json({
    // Deleted between the two reads: left out, as a later page read would.
    items: list.items.filter((s) => extra.has(s.id)).map((s) => oldItem(s, extra.get(s.id)!)),
    total: list.total,
    page: parsed.page,
    total_pages: Math.ceil(list.total / parsed.pageSize),
    page_size: parsed.pageSize,
  });
}

/** GET /api/v2/logs/:id: the flat `JobLogSwagger`. */
export async function oldLogDetail(c: Context<AppEnv>, fetcher: AppFetch) {
  const id = c.req.param("id") ?? "";
  // v3 first, so its role check comes before any answer about the id.
  const res = await callV3(c, fetcher, { path: `/logs/${encodeURIComponent(id)}` });
  if (res.status === 404) {
    throw /^\d{1,15}$/.test(id)
      ? new AppError("not_found", "Log not found")
      : new AppError("bad_request", "Invalid log ID");
  }
  if (!res.ok) return res;
  const d = await jsonOf<V3Detail>(res);
  return c.json({
    id: d.id,
    submitted_at: d.submitted_at,
    payload: d.payload,
    status: OLD_STATUS[d.status] ?? d.status,
    retry_count: d.retry_count,
    task_id: d.task_id,
    response: asText(d.response) ?? "",
    errors: d.last_error ?? "",
  });
}
