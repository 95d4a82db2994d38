/**
 * `POST /api/v3/aggregate?dryRun=true&dhis2=true`: the mapped payload sent to DHIS2 with
 * `dryRun=true`, and the outcome the worker would record from the reply, conflicts named by
 * the caller's codes (outcome.ts, the same function deliveries use).
 *
 * Never with a completion date: DHIS2 registers a data set's completion even in a dry run
 * (reference §3.1), so a "test" could close a real form. The reply says it was left out.
 */
import type { Config } from "../config/config.ts";
import { createDhis2Client, type DataValueSetPayload, type Dhis2Client } from "../dhis2/client.ts";
import type { SourceConflict } from "../dhis2/outcome.ts";
import { AppError } from "../http/errors.ts";
import { liveApiAuth } from "./destination.ts";
import { aggregateOutcome } from "./outcome.ts";

/**
 * `?dryRun=` and `?dhis2=` on every submission route: dhis2=true alone is a 422 (values other
 * than true/false are refused by the route's query schema).
 */
export function dryRunFlags(q: { dryRun?: string; dhis2?: string }) {
  const dryRun = q.dryRun === "true";
  if (q.dhis2 === "true" && !dryRun) {
    throw new AppError("validation_failed", "dhis2=true needs dryRun=true", {
      details: [{ field: "dhis2", message: "only with dryRun=true" }],
    });
  }
  return { dryRun, dhis2: q.dhis2 === "true" };
}

export type DryRunClient = Pick<Dhis2Client, "postDataValueSets">;

export interface Dhis2DryRun {
  /** The status the submission would get after this reply. */
  status: "delivered" | "partial" | "rejected" | "retrying" | "dead";
  httpStatus: number | null;
  dhis2Status: string | null;
  counts: { imported: number; updated: number; ignored: number; deleted: number } | null;
  conflicts: SourceConflict[] | null;
  error: string | null;
  /** Set when the payload had a completion date that was not sent (see above). */
  completeDateOmitted?: true;
}

/** A client for dry runs only: the configured DHIS2, every import with dryRun=true. */
export function dryRunClient(config: Readonly<Config>): DryRunClient | null {
  const api = config.api;
  if (!api.dhis2_base_url) return null;
  return createDhis2Client({
    baseUrl: api.dhis2_base_url,
    auth: liveApiAuth(config),
    connectTimeoutMs: api.dhis2_connect_timeout * 1000,
    timeoutMs: api.dhis2_timeout * 1000,
    importOptions: { importStrategy: api.import_strategy, idScheme: api.id_scheme, dryRun: true },
  });
}

export async function askDhis2(
  client: DryRunClient,
  payload: DataValueSetPayload,
  codes: readonly string[],
): Promise<Dhis2DryRun> {
  const { completeDate, ...sent } = payload;
  const result = await client.postDataValueSets(sent);
  const outcome = aggregateOutcome(result, sent, codes, false);
  const f = outcome.facts;
  const reply: Dhis2DryRun = {
    status: outcome.kind === "retry"
      ? "retrying"
      : outcome.kind === "give_up"
      ? "dead"
      : outcome.kind,
    httpStatus: f.httpStatus,
    dhis2Status: f.remoteStatus,
    counts: f.counts,
    conflicts: f.conflicts as SourceConflict[] | null,
    error: outcome.kind === "delivered" ? null : outcome.error,
  };
  if (completeDate !== undefined) reply.completeDateOmitted = true;
  return reply;
}
