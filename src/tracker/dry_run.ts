/**
 * `?dryRun=true[&dhis2=true]` on the three tracker routes: the checked bundle with the UIDs a
 * submission would get, nothing stored; with dhis2=true the bundle is sent to `/api/tracker`
 * synchronously with `importMode=VALIDATE` (DHIS2 validates and stores nothing) and the reply
 * is turned into the outcome the worker would record by the same code deliveries use
 * (outcome.ts), each refused object with its path in the caller's request.
 */
import { z } from "@hono/zod-openapi";
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import { liveApiAuth } from "../aggregate/destination.ts";
import { dryRunOutcomeSchema } from "../dhis2/dry_run_schema.ts";
import { AppError } from "../http/errors.ts";
import type { FlatBundle, TrackerObject } from "./bundle.ts";
import { createTrackerClient, type TrackerClient } from "./client.ts";
import { MISSING_REFERENCE, nonReportOutcome, readImportReport, reportOutcome } from "./outcome.ts";
import { createdByEarlierPending } from "./queries.ts";

const flag = z.enum(["true", "false"]).optional();
export const trackerDryRunQuery = z.object({
  dryRun: flag.openapi({
    description: "true: check the payload and give it UIDs exactly as a submission would, " +
      "store nothing; the reply shows the bundle that would be sent",
  }),
  dhis2: flag.openapi({
    description: "with dryRun=true: also ask DHIS2 (/api/tracker, importMode=VALIDATE, sync) " +
      "and return the outcome dhis2gw would record, per object with its path in the request",
  }),
});

export const trackerDryRunReplySchema = z.object({
  message: z.string(),
  dry_run: z.literal(true),
  objects: z.array(z.object({
    type: z.string(),
    uid: z.string(),
    path: z.string(),
    generated: z.boolean(),
  })),
  payload: z.record(z.string(), z.unknown()).openapi({
    description: "the flat tracker bundle that would be sent to DHIS2",
  }),
  dhis2: dryRunOutcomeSchema(
    "each refused object: type, uid, errorCode, message, path (in the request)",
    {},
  ).optional(),
}).openapi("TrackerDryRunReply");

export type TrackerDryRunReply = z.infer<typeof trackerDryRunReplySchema>;
type Dhis2Part = NonNullable<TrackerDryRunReply["dhis2"]>;

/** The flags, with aggregate's rules (one definition, shared by every submission route). */
export { dryRunFlags } from "../aggregate/dry_run.ts";

/** A client for dry runs only: the configured DHIS2, every import importMode=VALIDATE. */
export function trackerDryRunClient(config: Readonly<Config>): TrackerClient | null {
  if (!config.api.dhis2_base_url) return null;
  return createTrackerClient({
    baseUrl: config.api.dhis2_base_url,
    auth: liveApiAuth(config),
    timeoutMs: config.api.dhis2_timeout * 1000,
    import: {
      importStrategy: config.tracker.import_strategy,
      atomicMode: config.tracker.atomic_mode,
      importMode: "VALIDATE",
    },
  });
}

export interface TrackerDryRunDeps {
  config: Readonly<Config>;
  sql: Sql;
  /** Default: the configured DHIS2 (trackerDryRunClient). */
  trackerDryRun?: TrackerClient;
}

export function trackerDryRun(deps: TrackerDryRunDeps) {
  let client: TrackerClient | null | undefined = deps.trackerDryRun;
  return async (
    flags: { dhis2: boolean },
    bundle: FlatBundle,
    objects: TrackerObject[],
  ): Promise<TrackerDryRunReply> => {
    const reply: TrackerDryRunReply = {
      message: "Dry run: the tracker payload is valid; nothing was stored",
      dry_run: true,
      objects: objects.map(({ type, uid, path, generated }) => ({ type, uid, path, generated })),
      payload: bundle as unknown as Record<string, unknown>,
    };
    if (!flags.dhis2) return reply;
    client ??= trackerDryRunClient(deps.config);
    if (!client) {
      throw new AppError("validation_failed", "dhis2=true: no DHIS2 is configured", {
        details: [{ field: "dhis2", message: "api.dhis2_base_url is not set" }],
      });
    }
    const result = await client.post(bundle, false);
    reply.dhis2 = await validated(deps, result, objects);
    return reply;
  };
}

async function validated(
  deps: TrackerDryRunDeps,
  result: Awaited<ReturnType<TrackerClient["post"]>>,
  objects: TrackerObject[],
): Promise<Dhis2Part> {
  const report = result.kind === "response" &&
      (result.httpStatus === 200 || result.httpStatus === 409)
    ? readImportReport(result.body, objects)
    : null;
  const outcome = !report || result.kind !== "response"
    ? nonReportOutcome(result, false)
    : await (async () => {
      // VALIDATE commits nothing: with atomicMode=OBJECT the objects DHIS2 found no fault in
      // are what a real import would commit (partial); with ALL, one fault refuses them all.
      const failed = new Set(report.failures.map((f) => f.uid));
      const committed = deps.config.tracker.atomic_mode === "OBJECT"
        ? objects.filter((o) => !failed.has(o.uid)).length
        : 0;
      // "Not found" for what a queued submission creates means "not yet" (a retry), as live.
      const byUid = new Map(objects.map((x) => [x.uid, x]));
      const refs = report.failures.filter((f) => MISSING_REFERENCE.has(f.errorCode))
        .flatMap((f) => {
          const x = byUid.get(f.uid);
          return x ? [x.trackedEntity, x.enrollment].filter((u): u is string => !!u) : [];
        });
      const pending = await createdByEarlierPending(deps.sql, Number.MAX_SAFE_INTEGER, refs);
      const waiting = new Set(
        report.failures.filter((f) => {
          const x = byUid.get(f.uid);
          return x && [x.trackedEntity, x.enrollment].some((u) => u && pending.has(u));
        }).map((f) => f.uid),
      );
      return reportOutcome(
        { ...report, committed },
        { httpStatus: result.httpStatus, response: null },
        objects,
        // A completed event's E1083 is not read back here: a dry run reports it as refused.
        { landed: new Set(), waiting },
      );
    })();
  const f = outcome.facts;
  return {
    status: outcome.kind === "retry"
      ? "retrying"
      : outcome.kind === "give_up"
      ? "dead"
      : outcome.kind,
    httpStatus: f.httpStatus,
    dhis2Status: f.remoteStatus,
    counts: f.counts,
    conflicts: f.conflicts as Dhis2Part["conflicts"],
    error: outcome.kind === "delivered" ? null : outcome.error,
  };
}
