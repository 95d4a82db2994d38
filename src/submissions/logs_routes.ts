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
import { secureRoute } from "../auth/guard.ts";
import { ROLES } from "../auth/principal.ts";
import { newRouter } from "../http/router.ts";
import {
  deleteLog,
  listLogs,
  type LogsDeps,
  oldBatchRequeue,
  purgeLogs,
  requeueByKey,
  requeueMatching,
  showLog,
} from "./logs_handlers.ts";
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

export type { LogsDeps };

const READERS = ROLES;
const ADMIN = ["admin"] as const;
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

const list = secureRoute({
  method: "get",
  path: "/api/v3/logs",
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
  path: "/api/v3/logs/{id}",
  tags: ["logs"],
  summary: "One submission with its request, DHIS2 payload, response, conflicts and attempts",
  roles: READERS,
  request: { params: idParam },
  responses: { 200: json("the submission", SubmissionDetailSchema), ...notFoundReply },
});
const requeueOne = secureRoute({
  method: "post",
  path: "/api/v3/logs/{id}/requeue",
  tags: ["logs"],
  summary: "Deliver a submission again, now, with a fresh retry budget",
  description: "Every delivery of it that is not running or queued; with ?destination=name, " +
    "only its delivery to that destination.",
  roles: ADMIN,
  request: {
    params: idParam,
    query: z.object({
      destination: z.string().optional().openapi({ description: "one destination's delivery" }),
    }),
  },
  responses: {
    200: json("requeued, or already queued", RequeueOneReply),
    ...notFoundReply,
    ...runningReply,
  },
});
const oldRequeueParams = z.object({ task_id: z.string() });
const oldRequeueGet = secureRoute({
  method: "get",
  path: "/api/v3/aggregate/reenqueue/{task_id}",
  tags: ["logs"],
  summary: "Old path of POST /api/v3/logs/{id}/requeue, by task id",
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
  path: "/api/v3/logs/requeue",
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
  path: "/api/v3/aggregate/reenqueue/batch",
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
  path: "/api/v3/logs/purge",
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
  path: "/api/v3/logs/{id}",
  tags: ["logs"],
  summary: "Delete one submission and its attempts (not while it is being delivered)",
  roles: ADMIN,
  request: { params: idParam },
  responses: { 200: json("deleted", DeleteReply), ...notFoundReply, ...runningReply },
});

export function logsRoutes(deps: LogsDeps) {
  const router = newRouter();
  router.openAPIRegistry.register("RequeueRequest", RequeueBody);
  router.openAPIRegistry.register("OldBatchRequeueRequest", OldBatchBody);
  return router
    .openapi(list, (c) => listLogs(deps, c))
    .openapi(purge, (c) => purgeLogs(deps, c))
    .openapi(detail, (c) => showLog(deps, c))
    .openapi(requeueOne, (c) => requeueByKey(deps, c, c.req.param("id")))
    .openapi(oldBatch, (c) => oldBatchRequeue(deps, c))
    .openapi(oldRequeueGet, (c) => requeueByKey(deps, c, c.req.param("task_id")))
    .openapi(oldRequeuePost, (c) => requeueByKey(deps, c, c.req.param("task_id")))
    .openapi(requeueMany, (c) => requeueMatching(deps, c))
    .openapi(remove, (c) => deleteLog(deps, c));
}
