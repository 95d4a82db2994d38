/**
 * POST /api/v3/events and POST /api/v3/trackedEntities: the coded forms (coded.ts), resolved,
 * then checked, stored and queued exactly as POST /api/v3/tracker; paths in replies and in
 * per-object results are the caller's.
 */
import { z } from "@hono/zod-openapi";
import { secureRoute } from "../auth/guard.ts";
import type { Principal } from "../auth/principal.ts";
import type { MappingLookup } from "../mappings/lookup.ts";
import { newRouter } from "../http/router.ts";
import { bundleHash, normaliseBundle } from "./bundle.ts";
import { callerPath, codedEvents, codedPerson, type CodedResult } from "./coded.ts";
import { CODED_EVENT_EXAMPLE, CODED_PERSON_EXAMPLE } from "./examples.ts";
import { type IntakeDeps, storeTracker } from "./intake.ts";
import {
  dryRunFlags,
  trackerDryRun,
  type TrackerDryRunDeps,
  trackerDryRunQuery,
} from "./dry_run.ts";
import { trackerMappingRoutes } from "./mappings.ts";
import { TrackerMappingCache } from "./mapping_cache.ts";
import {
  idempotencyKeyOf,
  invalidTracker,
  readJson,
  trackerReply,
  trackerResponses,
} from "./routes.ts";

const body = (example: unknown, description: string) => ({
  required: true,
  content: {
    "application/json": { schema: { type: "object", description } as never, example },
  },
});

const eventsRoute = secureRoute({
  method: "post",
  path: "/api/v3/events",
  tags: ["tracker"],
  summary: "Submit events in the coded form (one, or an array)",
  description: "`{program, programStage, orgUnit, occurredAt, status?, trackedEntity?, " +
    "enrollment?, dataValues: {<code>: <value>}, geometry?}` with the source's codes, resolved " +
    "through tracker mappings (program; stage in its program; data element in its stage; " +
    "option values by code) and `ou` mappings. An unmapped code is a 422 naming it.",
  roles: ["submitter", "admin"],
  request: {
    query: trackerDryRunQuery,
    headers: z.object({ "idempotency-key": z.string().optional() }),
    body: body(CODED_EVENT_EXAMPLE, "a coded event, or an array of them"),
  },
  responses: trackerResponses,
});

const personRoute = secureRoute({
  method: "post",
  path: "/api/v3/trackedEntities",
  tags: ["tracker"],
  summary: "Submit a person with attributes by code, an optional enrollment and its first events",
  description: "`{trackedEntityType, orgUnit, trackedEntity?, attributes: {<code>: <value>}, " +
    "enrollment?: {program, enrolledAt, orgUnit?, status?, events?: [coded events without " +
    "program]}}`; attribute codes are mapped within the enrollment's program.",
  roles: ["submitter", "admin"],
  request: {
    query: trackerDryRunQuery,
    headers: z.object({ "idempotency-key": z.string().optional() }),
    body: body(CODED_PERSON_EXAMPLE, "a person by codes"),
  },
  responses: trackerResponses,
});

export interface CodedDeps extends IntakeDeps, TrackerDryRunDeps {
  mappings: MappingLookup;
}

export function codedRoutes(deps: CodedDeps) {
  const dryRun = trackerDryRun(deps);
  // Per app: the PUT below is the one writer in this process, so it invalidates this cache.
  const trackerMappings = new TrackerMappingCache(deps.sql, {
    refreshSeconds: deps.config.mappings.cache_refresh,
  });
  const handle = (kind: string, build: typeof codedEvents) =>
  async (
    // deno-lint-ignore no-explicit-any
    c: any,
  ) => {
    const principal = c.get("principal") as Principal;
    const flags = dryRunFlags(c.req.valid("query"));
    const key = idempotencyKeyOf(c.req.header("idempotency-key"));
    const { text, body } = await readJson(c.req);
    const built = await build(trackerMappings, deps.mappings, principal.sourceName, body);
    if (!built.ok) throw invalidTracker(built.problems);
    const checked = check(built.result);
    if (flags.dryRun) return c.json(await dryRun(flags, checked.bundle, checked.objects), 200);
    const stored = await storeTracker(deps, principal, {
      requestJson: text,
      requestHash: bundleHash(kind, body),
      idempotencyKey: key,
      bundle: checked.bundle,
      objects: checked.objects,
    });
    if (!stored.inserted) c.header("Idempotent-Replayed", "true");
    return c.json(trackerReply(stored), 200);
  };

  /** The resolved bundle checked as POST /api/v3/tracker checks it, paths the caller's. */
  function check(result: CodedResult) {
    const checked = normaliseBundle(result.raw);
    if (!checked.ok) {
      throw invalidTracker(checked.problems.map((p) => ({
        ...p,
        field: callerPath(result.paths, p.field),
      })));
    }
    for (const o of checked.objects) o.path = callerPath(result.paths, o.path);
    return checked;
  }

  return newRouter()
    .openapi(eventsRoute, handle("events", codedEvents))
    .openapi(personRoute, handle("trackedEntities", codedPerson))
    .route(
      "/",
      trackerMappingRoutes({ sql: deps.sql, changed: () => trackerMappings.invalidate() }),
    );
}
