/**
 * Request and reply shapes of the logs API (logs_routes.ts) for the OpenAPI document. The
 * examples are real replies of the demo gateway (`deno task demo`).
 */
import { z } from "@hono/zod-openapi";
import { FINISHED_STATUSES, STATUSES } from "../queue/queries.ts";
import { FILTER_KEYS } from "./filters.ts";

type FilterKey = (typeof FILTER_KEYS)[number];

/** What each filter does; parseLogFilter (filters.ts) is the authority. */
const FILTERS: Record<FilterKey, { doc: string; many?: true }> = {
  status: { doc: `one or several of ${STATUSES.join(", ")}`, many: true },
  submission_id: { doc: "one or several submission ids", many: true },
  job_id: { doc: "the old service's name for submission_id", many: true },
  task_id: { doc: "one or several task ids (UUID)", many: true },
  from_date: { doc: "YYYY-MM-DD, inclusive, in server.timezone" },
  to_date: { doc: "YYYY-MM-DD, inclusive, in server.timezone" },
  submitted_at: {
    doc: "the old service's one-day filter: YYYY-MM-DD, used as from_date and to_date where " +
      "those are not given",
  },
  orgUnit: { doc: "DHIS2 org unit UID" },
  dataSet: { doc: "DHIS2 data set UID" },
  period: { doc: "DHIS2 period, e.g. 202401" },
  user: { doc: "username of the submitter" },
  q: { doc: "text in the last error (case-insensitive)" },
  destination: {
    doc: "submissions with a delivery to this destination; with status, that delivery's " +
      "status is matched (and a requeue sends only that destination's deliveries)",
  },
  kind: { doc: "aggregate or tracker" },
};

/** Repeatable parameters arrive as an array when given more than once. */
const many = z.union([z.string(), z.array(z.string())]);

function filterShape<T extends z.ZodType>(type: (many: boolean) => T, suffix: string) {
  return Object.fromEntries(
    FILTER_KEYS.map((k) => [
      k,
      type(!!FILTERS[k].many).optional().openapi({
        description: FILTERS[k].doc + (FILTERS[k].many ? suffix : ""),
      }),
    ]),
  ) as Record<FilterKey, z.ZodOptional<T>>;
}

/** The list's filters as query parameters; any other name is a 422 naming it. */
export const FilterQuery = z.object(
  filterShape((m) => m ? many : z.string(), ": repeated or comma-separated"),
);
export const ListQuery = FilterQuery.extend({
  page: z.string().optional().openapi({ description: "from 1 (default 1)" }),
  page_size: z.string().optional().openapi({ description: "1 to 500 (default 20)" }),
});

export const PurgeQuery = z.object({
  // Optional to zod: the handler's own message says what a missing date would mean.
  date: z.string().optional().openapi({
    description: "required: RFC 3339 instant, or YYYY-MM-DD (server zone)",
  }),
  status: many.optional().openapi({
    description: `default: the finished ones (${FINISHED_STATUSES.join(", ")}); ` +
      "running ones are never deleted",
  }),
});

const scalar = z.union([z.string(), z.number()]);
const oneOrMore = z.union([scalar, z.array(scalar)]);

export const RequeueBody = z.object({
  ids: oneOrMore.optional().openapi({ description: "submission ids" }),
  submission_ids: oneOrMore.optional().openapi({ description: "the same as ids" }),
  task_ids: oneOrMore.optional().openapi({ description: "task ids (UUID)" }),
  filter: z.object(filterShape((m) => m ? oneOrMore : z.string(), "")).optional().openapi({
    description: "the filters of GET /api/v3/logs; any other name is refused",
  }),
}).openapi("RequeueRequest", {
  description: "Give one of ids, task_ids or filter. An empty body (or one without any of " +
    "them) uses the query string's filters instead. Requeueing without any filter is refused.",
});

/** Shown by Swagger UI as a choice of bodies for "Try it out". */
export const REQUEUE_EXAMPLES = {
  ids: { summary: "by submission id", value: { ids: [1, 2] } },
  task_ids: {
    summary: "by task id",
    value: { task_ids: ["abf450d8-8ff3-448d-8dac-77c169e3f686"] },
  },
  filter: {
    summary: "by the list's filters",
    value: { filter: { status: ["delivered"], period: "202411" } },
  },
};

export const OldBatchBody = z.object({
  queue: z.string().optional().openapi({
    description: "the old service's queue name; echoed back, default dead",
  }),
  task_ids: z.array(z.string()).min(1).openapi({ description: "task ids (UUID)" }),
}).openapi("OldBatchRequeueRequest", {
  example: { queue: "dead", task_ids: ["6fd40373-0f90-41e7-9d9c-1fae41b542f6", "not-a-task"] },
});

const importCount = z.object({
  imported: z.number().int(),
  updated: z.number().int(),
  ignored: z.number().int(),
  deleted: z.number().int(),
}).nullable().openapi({ description: "DHIS2's import count; null before a reply" });
const instant = z.string().openapi({ format: "date-time" });

const SUMMARY_EXAMPLE = {
  id: 1,
  task_id: "6fd40373-0f90-41e7-9d9c-1fae41b542f6",
  status: "delivered",
  submitted_at: "2026-11-30T04:05:46.938Z",
  updated_at: "2026-11-30T04:05:46.948Z",
  finished_at: "2026-11-30T04:05:46.948Z",
  user: "clinic",
  user_uid: "rYkIyVfKOWD",
  source_name: "default",
  org_unit: "DiszpKrYNg8",
  org_unit_name: "Ngelehun CHC",
  period: "202411",
  data_set: "pBOMPrpg1QX",
  attempts: 1,
  retry_count: 0,
  next_run_at: null,
  http_status: 200,
  dhis2_status: "SUCCESS",
  import_count: { imported: 5, updated: 0, ignored: 0, deleted: 0 },
  last_error: null,
  credential_problem: false,
  idempotency_key: null,
  kind: "aggregate",
  destinations: [{ destination: "default", status: "delivered" }],
};

export const SubmissionSummarySchema = z.object({
  id: z.number().int(),
  task_id: z.string(),
  status: z.enum(STATUSES),
  submitted_at: instant,
  updated_at: instant,
  finished_at: instant.nullable(),
  user: z.string().openapi({ description: "username of the submitter" }),
  user_uid: z.string(),
  source_name: z.string(),
  org_unit: z.string(),
  org_unit_name: z.string().nullable(),
  period: z.string(),
  data_set: z.string(),
  attempts: z.number().int(),
  retry_count: z.number().int().openapi({ description: "the old name: attempts after the first" }),
  next_run_at: instant.nullable().openapi({ description: "when queued or retrying" }),
  http_status: z.number().int().nullable(),
  dhis2_status: z.string().nullable(),
  import_count: importCount,
  last_error: z.string().nullable(),
  credential_problem: z.boolean(),
  idempotency_key: z.string().nullable(),
  kind: z.string().openapi({ description: "aggregate or tracker" }),
  destinations: z.array(z.object({ destination: z.string(), status: z.enum(STATUSES) }))
    .openapi({
      description: "each delivery's destination and status, its own first; the queue " +
        "fields above are the first one's",
    }),
}).openapi("SubmissionSummary", { example: SUMMARY_EXAMPLE });

export const SubmissionPageSchema = z.object({
  items: z.array(SubmissionSummarySchema),
  total: z.number().int(),
  page: z.number().int(),
  page_size: z.number().int(),
  total_pages: z.number().int(),
}).openapi("SubmissionPage", {
  example: { items: [SUMMARY_EXAMPLE], total: 2, page: 1, page_size: 1, total_pages: 2 },
});

const AttemptSchema = z.object({
  destination: z.string().openapi({ description: "the delivery's destination" }),
  number: z.number().int(),
  worker: z.string(),
  started_at: instant,
  finished_at: instant,
  duration_ms: z.number().int(),
  outcome: z.string().openapi({ description: "delivered, partial, rejected, retry or dead" }),
  http_status: z.number().int().nullable(),
  dhis2_status: z.string().nullable(),
  import_count: importCount,
  conflicts: z.unknown().openapi({ description: "DHIS2's conflicts with the request codes" }),
  error: z.string().nullable(),
  credential_problem: z.boolean(),
  batch_id: z.string().nullable().openapi({
    description: "the import this attempt rode in with other submissions (batch.max_values)",
  }),
}).openapi("SubmissionAttempt");

const DHIS2_PAYLOAD_EXAMPLE = {
  period: "202411",
  dataSet: "pBOMPrpg1QX",
  orgUnit: "DiszpKrYNg8",
  dataValues: [
    { value: "12", dataElement: "f7n9E0hX8qk", categoryOptionCombo: "HllvX50cXC0" },
    { value: "3.25", dataElement: "deWeightKg1", categoryOptionCombo: "HllvX50cXC0" },
  ],
};

const DeliverySchema = z.object({
  destination: z.string().openapi({ example: "default" }),
  status: z.enum(STATUSES),
  attempts: z.number().int(),
  next_run_at: instant.nullable(),
  http_status: z.number().int().nullable(),
  dhis2_status: z.string().nullable(),
  import_count: z.object({
    imported: z.number().int(),
    updated: z.number().int(),
    ignored: z.number().int(),
    deleted: z.number().int(),
  }).nullable(),
  last_error: z.string().nullable(),
  credential_problem: z.boolean(),
  conflicts: z.unknown(),
  response: z.unknown(),
  payload: z.unknown().openapi({
    description: "what this destination is sent when its mappings differ; null: dhis2_payload",
  }),
  finished_at: instant.nullable(),
  requeued_at: instant.nullable(),
  requeued_by: z.string().nullable(),
}).openapi("Delivery");

export const SubmissionDetailSchema = SubmissionSummarySchema.extend({
  payload: z.unknown().openapi({ description: "the request as received" }),
  dhis2_payload: z.unknown().openapi({ description: "the data value set sent to DHIS2" }),
  codes: z.array(z.string()),
  unmapped_codes: z.array(z.string()),
  conflicts: z.unknown().openapi({ description: "DHIS2's conflicts with the request codes" }),
  response: z.unknown().openapi({ description: "DHIS2's last reply" }),
  requeued_at: instant.nullable(),
  requeued_by: z.string().nullable(),
  attempts_log: z.array(AttemptSchema).openapi({ description: "every attempt, oldest first" }),
  deliveries: z.array(DeliverySchema).openapi({
    description: "one per destination (its own first, then copies); the top-level queue " +
      "fields are the first one's, status summarises them all",
  }),
  tracker: z.unknown().optional().openapi({
    description: "tracker submissions: each object (type, uid, path in the request) with its " +
      "result (a refused one: its first error's code and message, and every error in `errors`), " +
      "and the async jobs followed; attribute values are shown to admins only",
  }),
}).openapi("SubmissionDetail", {
  // A real reply, with two of its five data values and without DHIS2's importOptions.
  example: {
    ...SUMMARY_EXAMPLE,
    payload: {
      period: "202411",
      dataSet: "pBOMPrpg1QX",
      orgUnit: "DiszpKrYNg8",
      orgUnitName: "Ngelehun CHC",
      dataValues: { ANC1: 12, WEIGHT: 3.25 },
    },
    dhis2_payload: DHIS2_PAYLOAD_EXAMPLE,
    codes: ["ANC1", "WEIGHT"],
    unmapped_codes: [],
    conflicts: null,
    response: {
      status: "OK",
      message: "Import was successful.",
      response: {
        status: "SUCCESS",
        conflicts: [],
        description: "Import process completed successfully",
        importCount: { deleted: 0, ignored: 0, updated: 0, imported: 5 },
        responseType: "ImportSummary",
        dataSetComplete: "false",
        rejectedIndexes: [],
      },
      httpStatus: "OK",
      httpStatusCode: 200,
    },
    requeued_at: null,
    requeued_by: null,
    deliveries: [{
      destination: "default",
      status: "delivered",
      attempts: 1,
      next_run_at: null,
      http_status: 200,
      dhis2_status: "SUCCESS",
      import_count: { imported: 5, updated: 0, ignored: 0, deleted: 0 },
      last_error: null,
      credential_problem: false,
      conflicts: null,
      response: null,
      payload: null,
      finished_at: "2026-11-30T04:05:46.948Z",
      requeued_at: null,
      requeued_by: null,
    }],
    attempts_log: [{
      destination: "default",
      number: 1,
      worker: "vm/19506/c1c04e17",
      started_at: "2026-11-30T04:05:46.944Z",
      finished_at: "2026-11-30T04:05:46.948Z",
      duration_ms: 4,
      outcome: "delivered",
      http_status: 200,
      dhis2_status: "SUCCESS",
      import_count: { imported: 5, updated: 0, ignored: 0, deleted: 0 },
      conflicts: null,
      error: null,
      credential_problem: false,
      batch_id: "0f8c4a52-3d1e-4b7a-9a51-6c2d8e9f1a20",
    }],
  },
});

export const RequeueOneReply = z.object({
  message: z.string(),
  submission_id: z.number().int(),
  task_id: z.string(),
  status: z.enum(STATUSES).openapi({
    description: "read after the requeue: a worker may already be delivering it",
  }),
  requeued: z.boolean().openapi({ description: "false when it was already queued" }),
}).openapi("RequeueReply", {
  example: {
    message: "Re-enqueued task 6fd40373-0f90-41e7-9d9c-1fae41b542f6 (submission 1)",
    submission_id: 1,
    task_id: "6fd40373-0f90-41e7-9d9c-1fae41b542f6",
    status: "queued",
    requeued: true,
  },
});

const countsShape = {
  matched: z.number().int().openapi({ description: "submissions the selection matched" }),
  requeued: z.number().int(),
  running: z.number().int().openapi({ description: "skipped: being delivered right now" }),
  already_queued: z.number().int().openapi({ description: "skipped: already waiting" }),
};

export const RequeueCountsSchema = z.object(countsShape).openapi("RequeueCounts", {
  example: { matched: 2, requeued: 2, running: 0, already_queued: 0 },
});

export const OldBatchReply = z.object({
  queue: z.string(),
  reEnqueued: z.number().int(),
  failed: z.number().int().openapi({ description: "malformed, unknown or running task ids" }),
  errors: z.array(z.string()),
  ...countsShape,
}).openapi("OldBatchRequeueReply", {
  example: {
    queue: "dead",
    reEnqueued: 1,
    failed: 1,
    errors: ["Task not-a-task: not a task id"],
    matched: 1,
    requeued: 1,
    running: 0,
    already_queued: 0,
  },
});

export const DeleteReply = z.object({
  message: z.string(),
  submission_id: z.number().int(),
}).openapi("DeleteReply", { example: { message: "Deleted 1 log(s)", submission_id: 2 } });

export const PurgeReply = z.object({
  message: z.string(),
  deleted: z.number().int(),
}).openapi("PurgeReply", {
  example: { message: "Deleted 1 logs older than 2030-01-01T00:00:00.000Z", deleted: 1 },
});
