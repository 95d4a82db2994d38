/**
 * The one error type of dhis2gw. Every 4xx/5xx leaves the process as
 * `{ "error": { code, message, details?, requestId } }`, rendered by `app.onError`.
 */
import { z } from "@hono/zod-openapi";
import { isDatabaseUnavailable, isRetryableTxError } from "../db/db.ts";

export type ErrorCode =
  | "bad_request"
  | "validation_failed"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "too_many_requests"
  | "internal_error"
  | "not_ready"
  | "database_unavailable"
  | "bad_gateway";

const statusByCode: Record<ErrorCode, number> = {
  bad_request: 400,
  validation_failed: 422,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_requests: 429,
  internal_error: 500,
  not_ready: 503,
  database_unavailable: 503,
  bad_gateway: 502,
};

/** One problem with one input field: `field` is a dotted path such as `dataValues.ANC1`. */
export interface FieldProblem {
  field: string;
  message: string;
  [extra: string]: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;
  /** Entries a caller already left out of `details` (its list was capped before). */
  readonly omitted?: number;
  /** Extra response headers, e.g. `WWW-Authenticate` or `Retry-After`. */
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      details?: unknown;
      omitted?: number;
      headers?: Record<string, string>;
      status?: number;
    } = {},
  ) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.status = options.status ?? statusByCode[code];
    this.details = options.details;
    if (options.omitted) this.omitted = options.omitted;
    this.headers = options.headers ?? {};
  }
}

export const badRequest = (message: string, details?: unknown) =>
  new AppError("bad_request", message, { details });
export const validationFailed = (message: string, problems: FieldProblem[]) =>
  new AppError("validation_failed", message, { details: problems });
export const notFound = (message: string) => new AppError("not_found", message);
export const conflict = (message: string, details?: unknown) =>
  new AppError("conflict", message, { details });
export const payloadTooLarge = (message: string) => new AppError("payload_too_large", message);

/**
 * Retry-After of a database_unavailable reply. A restart of PostgreSQL takes a second or two;
 * sooner would mostly meet the same outage again.
 */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/**
 * What a request gets while PostgreSQL is down, restarting or full. Not "nothing was stored":
 * a connection lost during COMMIT leaves that unknown, which is what Idempotency-Key is for.
 */
export const databaseUnavailable = () =>
  new AppError(
    "database_unavailable",
    "the database is unavailable; retry the request later (with the same Idempotency-Key, " +
      "if it had one)",
    { headers: { "Retry-After": String(DATABASE_RETRY_AFTER_SECONDS) } },
  );

/**
 * The AppError for an error thrown below the routes that is not one already: a database
 * outage (db.ts decides which errors are one) is 503 database_unavailable. Anything else is
 * left to the renderer as a 500.
 */
export function fromDatabaseError(err: unknown): AppError | undefined {
  if (isDatabaseUnavailable(err)) return databaseUnavailable();
  // A deadlock or serialization failure rolled the request's transaction back: nothing of it
  // was stored, and the same request again will most likely go through.
  if (isRetryableTxError(err)) {
    return new AppError("database_unavailable", "the request collided with another; retry it", {
      headers: { "Retry-After": "1" },
    });
  }
  return undefined;
}

export interface ErrorEnvelope {
  error: {
    code: string;
    message: string;
    details?: unknown;
    /** How many entries of a long `details` list were left out. */
    omitted?: number;
    requestId: string;
  };
}

/**
 * Entries of a `details` list a reply carries: 5,000 unmapped codes made a 552 KB reply that
 * no one reads; the first ones name the problem and `omitted` counts the rest.
 */
export const MAX_DETAILS = 100;

export function envelope(err: AppError, requestId: string): ErrorEnvelope {
  const body: ErrorEnvelope = { error: { code: err.code, message: err.message, requestId } };
  let omitted = err.omitted ?? 0;
  if (Array.isArray(err.details) && err.details.length > MAX_DETAILS) {
    body.error.details = err.details.slice(0, MAX_DETAILS);
    omitted += err.details.length - MAX_DETAILS;
  } else if (err.details !== undefined) body.error.details = err.details;
  if (omitted > 0) body.error.omitted = omitted;
  return body;
}

/**
 * The envelope's shape for the OpenAPI document, with `details` as a route fills it in (the
 * mapping import: its problems). Not registered: each caller names its own component.
 */
export function envelopeSchema<D extends z.ZodType>(details: D) {
  return z.object({
    error: z.object({
      code: z.enum(Object.keys(statusByCode) as [ErrorCode, ...ErrorCode[]]).openapi({
        description: "stable, for programs; the HTTP status follows from it",
      }),
      message: z.string().openapi({ description: "for people; names the field or the reason" }),
      details: details.optional(),
      omitted: z.number().int().optional().openapi({
        description: `how many more problems a list longer than ${MAX_DETAILS} had`,
      }),
      requestId: z.string().openapi({
        description: "the X-Request-Id header of the reply; the server log has it too",
      }),
    }),
  });
}

/**
 * The envelope in the OpenAPI document: the component "Error" that every 4xx/5xx response
 * refers to (docs.ts gives it to any error response declared with a description only). The
 * example is a real reply of `GET /api/v3/logs?status=failed`.
 */
export const ErrorSchema = envelopeSchema(
  z.unknown().openapi({
    description: "validation_failed: `[{ field, message }]`, one per problem; conflict: " +
      "what is in the way (e.g. `{ submission_id, task_id }`)",
  }),
).openapi("Error", {
  description: "The reply to every failed request (4xx and 5xx)",
  example: {
    error: {
      code: "validation_failed",
      message: 'invalid request: status: "failed" is not one of queued, running, retrying, ' +
        "delivered, partial, rejected, dead",
      requestId: "6e37a07d-5e1b-4ace-8a31-c714c5a1e92c",
      details: [{
        field: "status",
        message: '"failed" is not one of queued, running, retrying, delivered, partial, ' +
          "rejected, dead",
      }],
    },
  },
});

/** An error response for a route's `responses`: the description and the envelope. */
export function errorResponse(description: string) {
  return { description, content: { "application/json": { schema: ErrorSchema } } };
}
