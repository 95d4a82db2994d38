/**
 * POST /api/v3/tracker: a DHIS2 tracker payload as DHIS2 takes it (nested or flat), checked,
 * given UIDs where it has none, stored and queued in one transaction. The reply lists every
 * object with its UID and its path in the request.
 */
import { z } from "@hono/zod-openapi";
import { secureRoute } from "../auth/guard.ts";
import type { Principal } from "../auth/principal.ts";
import { AppError, type FieldProblem } from "../http/errors.ts";
import { newRouter } from "../http/router.ts";
import { bundleHash, normaliseBundle } from "./bundle.ts";
import { type IntakeDeps, type StoredTracker, storeTracker } from "./intake.ts";
import { TRACKER_EXAMPLE } from "./examples.ts";

export const trackerReplySchema = z.object({
  message: z.string(),
  submission_id: z.number().int(),
  task_id: z.string(),
  status: z.string(),
  objects: z.array(z.object({
    type: z.string(),
    uid: z.string(),
    path: z.string().openapi({ description: "where the object is in the request" }),
    generated: z.boolean().openapi({ description: "the UID was made by the gateway" }),
  })),
  replayed: z.boolean().optional(),
});

export const trackerResponses = {
  200: {
    description: "stored and queued (or the original submission, on an idempotent replay)",
    content: { "application/json": { schema: trackerReplySchema } },
  },
  409: { description: "the idempotency key was used with a different body" },
  422: { description: "invalid payload; error.details names each field by its JSON path" },
  503: {
    description:
      "database_unavailable: retry after Retry-After seconds (with the same Idempotency-Key)",
  },
} as const;

const submitRoute = secureRoute({
  method: "post",
  path: "/api/v3/tracker",
  tags: ["tracker"],
  summary: "Submit a DHIS2 tracker payload (tracked entities, enrollments, events, relationships)",
  description: "The payload DHIS2's /api/tracker takes, nested or flat, with DHIS2 UIDs. " +
    "Objects without a UID get one at intake, so a resend updates instead of duplicating " +
    "(importStrategy CREATE_AND_UPDATE). With an Idempotency-Key a repeat returns the original.",
  roles: ["submitter", "admin"],
  request: {
    headers: z.object({ "idempotency-key": z.string().optional() }),
    body: {
      required: true,
      content: {
        "application/json": {
          schema: { type: "object", example: TRACKER_EXAMPLE } as never,
        },
      },
    },
  },
  responses: trackerResponses,
});

export function invalidTracker(problems: FieldProblem[]): AppError {
  const shown = problems.slice(0, 20).map((p) => `${p.field}: ${p.message}`).join("; ");
  return new AppError(
    "validation_failed",
    `invalid tracker payload: ${shown}${problems.length > 20 ? "; …" : ""}`.slice(0, 2000),
    { details: problems },
  );
}

export async function readJson(
  req: { text(): Promise<string> },
): Promise<{ text: string; body: unknown }> {
  const text = await req.text();
  try {
    return { text, body: JSON.parse(text) };
  } catch (err) {
    throw new AppError("bad_request", `malformed JSON body: ${(err as Error).message}`);
  }
}

export function idempotencyKeyOf(header: string | undefined): string | null {
  if (header === undefined) return null;
  if (header.length < 1 || header.length > 255) {
    throw new AppError("validation_failed", "Idempotency-Key must be 1 to 255 characters", {
      details: [{ field: "Idempotency-Key", message: "must be 1 to 255 characters" }],
    });
  }
  return header;
}

export function trackerReply(stored: StoredTracker): z.infer<typeof trackerReplySchema> {
  return {
    message: stored.inserted
      ? "Tracker request queued for processing"
      : "Tracker request already received with this idempotency key",
    submission_id: stored.id,
    task_id: stored.taskId,
    status: stored.status,
    objects: stored.objects,
    ...(stored.inserted ? {} : { replayed: true }),
  };
}

export function trackerRoutes(deps: IntakeDeps) {
  return newRouter().openapi(submitRoute, async (c) => {
    const principal = c.get("principal") as Principal;
    const key = idempotencyKeyOf(c.req.header("idempotency-key"));
    const { text, body } = await readJson(c.req);
    const checked = normaliseBundle(body);
    if (!checked.ok) throw invalidTracker(checked.problems);
    const stored = await storeTracker(deps, principal, {
      requestJson: text,
      requestHash: bundleHash("tracker", body),
      idempotencyKey: key,
      bundle: checked.bundle,
      objects: checked.objects,
    });
    if (!stored.inserted) c.header("Idempotent-Replayed", "true");
    return c.json(trackerReply(stored), 200);
  });
}
