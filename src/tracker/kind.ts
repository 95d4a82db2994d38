/**
 * The tracker kind of delivery: a flat DHIS2 tracker bundle to `POST /api/tracker`.
 *
 * Small bundles go `async=false` and the ImportReport decides at once. Larger ones (at least
 * tracker.async_threshold objects) go `async=true`: the job id DHIS2 returns is stored at once
 * (tracker_jobs, with the attempt it will be recorded as) and the delivery is snoozed; each
 * later claim follows the job (`/tracker/jobs/{id}`, then `/report` once completed). Nothing
 * lives in memory between claims, so a gateway killed mid-job follows the same job after its
 * restart. DHIS2 forgets job reports (restart, eviction): `/jobs/{id}` is then `[]`, and the
 * objects are read back by UID; only the missing ones are sent again (an update, never a
 * duplicate: every UID was fixed at intake).
 */
import type { Sql } from "../db/db.ts";
import type { Dhis2Result } from "../dhis2/client.ts";
import type { ClaimedDelivery, DeliverContext, DeliveryKind, Outcome } from "../queue/kind.ts";
import { COLLECTIONS, type FlatBundle, objectsOf, type TrackerObject } from "./bundle.ts";
import type { TrackerClient } from "./client.ts";
import {
  COMPLETED_EVENT,
  MISSING_REFERENCE,
  nonReportOutcome,
  readImportReport,
  reportOutcome,
} from "./outcome.ts";
import {
  createdByEarlierPending,
  finishJob,
  type OpenJob,
  openJob,
  recordJob,
  TRACKER,
} from "./queries.ts";

export interface TrackerKindOptions {
  sql: Sql;
  client: TrackerClient;
  saveResponse: boolean;
  asyncThreshold: number;
  jobPollMs: number;
  jobTimeoutMs: number;
}

type Final = Exclude<Outcome, { kind: "snooze" }>;

export function trackerKind(o: TrackerKindOptions): DeliveryKind {
  const later = (ctx: DeliverContext, reason: string): Outcome => ({
    kind: "snooze",
    until: new Date(ctx.now().getTime() + o.jobPollMs),
    reason,
  });

  /** Sends `bundle` (sync or async by size) and says what happened. */
  async function send(
    job: ClaimedDelivery,
    bundle: FlatBundle,
    objects: TrackerObject[],
    ctx: DeliverContext,
  ): Promise<Outcome> {
    const isAsync = objects.length >= o.asyncThreshold;
    const result = await o.client.post(bundle, isAsync);
    if (!isAsync) return await fromReply(job, result, objects, null);
    const jobId = jobIdOf(result);
    if (!jobId) return nonReportOutcome(result, o.saveResponse);
    await recordJob(o.sql, job.id, jobId, job.attempt);
    return later(ctx, `DHIS2 import job ${jobId} started`);
  }

  /** An ImportReport (sync reply or job report), or anything else DHIS2 answered. */
  async function fromReply(
    job: ClaimedDelivery,
    result: Dhis2Result,
    objects: TrackerObject[],
    jobId: string | null,
  ): Promise<Final> {
    const report = result.kind === "response" && (result.httpStatus === 200 ||
        result.httpStatus === 409)
      ? readImportReport(result.body, objects)
      : null;
    if (!report || result.kind !== "response") return nonReportOutcome(result, o.saveResponse);
    const byUid = new Map(objects.map((x) => [x.uid, x]));
    const landed = new Set<string>();
    for (const f of report.failures) {
      if (f.errorCode !== COMPLETED_EVENT) continue;
      const sent = eventOf(job.payload as FlatBundle, f.uid);
      if (sent && await matches(f.uid, sent)) landed.add(f.uid);
    }
    const refs = report.failures.filter((f) => MISSING_REFERENCE.has(f.errorCode))
      .flatMap((f) => {
        const x = byUid.get(f.uid);
        return x ? [x.trackedEntity, x.enrollment].filter((u): u is string => !!u) : [];
      });
    const pending = await createdByEarlierPending(o.sql, job.submissionId, refs);
    const waiting = new Set(
      report.failures.filter((f) => {
        const x = byUid.get(f.uid);
        return x && [x.trackedEntity, x.enrollment].some((u) => u && pending.has(u));
      }).map((f) => f.uid),
    );
    const response = o.saveResponse ? result.body : null;
    return reportOutcome(
      report,
      {
        httpStatus: result.httpStatus,
        response: jobId ? { job: jobId, report: response } : response,
      },
      objects,
      { landed, waiting },
    );
  }

  /** The read-back of an event shows what was sent (status and every data value). */
  async function matches(uid: string, sent: Record<string, unknown>): Promise<boolean> {
    const r = await o.client.readBack("EVENT", uid);
    if (r.kind !== "response" || r.httpStatus !== 200 || !isRecord(r.body)) return false;
    const there = new Map(
      (Array.isArray(r.body.dataValues) ? r.body.dataValues : []).filter(isRecord)
        .map((v) => [String(v.dataElement), String(v.value ?? "")]),
    );
    if (sent.status && r.body.status !== sent.status) return false;
    return (Array.isArray(sent.dataValues) ? sent.dataValues : []).filter(isRecord).every((v) =>
      v.value === null || v.value === undefined
        ? !there.has(String(v.dataElement))
        : there.get(String(v.dataElement)) === String(v.value)
    );
  }

  async function follow(
    job: ClaimedDelivery,
    open: OpenJob,
    bundle: FlatBundle,
    objects: TrackerObject[],
    ctx: DeliverContext,
  ): Promise<Outcome> {
    const expired = ctx.now().getTime() - open.postedAt.getTime() > o.jobTimeoutMs;
    const notes = await o.client.jobNotifications(open.jobId);
    if (notes.kind !== "response" || notes.httpStatus !== 200 || !Array.isArray(notes.body)) {
      return nonReportOutcome(notes, o.saveResponse);
    }
    const list = notes.body.filter(isRecord);
    if (list.length && list.some((n) => n.completed === true)) {
      const report = await o.client.jobReport(open.jobId);
      if (report.kind === "response" && report.httpStatus === 200) {
        await finishJob(o.sql, job.id, open.jobId, "report");
        return await fromReply(job, report, objects, open.jobId);
      }
      if (report.kind !== "response" || report.httpStatus !== 404) {
        return nonReportOutcome(report, o.saveResponse);
      }
      // Completed, but its report is gone already (evicted): as for an unknown job.
    } else if (list.length && !expired) {
      return later(ctx, `DHIS2 import job ${open.jobId} running`);
    }
    // Unknown to DHIS2 (restarted, or evicted): what landed is what can be read back.
    const missing = await notThere(objects);
    if (missing === null) {
      return nonReportOutcome(
        {
          kind: "transport_error",
          error: "reading objects back failed",
          timedOut: false,
          durationMs: 0,
        },
        false,
      );
    }
    if (!missing.length) {
      await finishJob(o.sql, job.id, open.jobId, "landed");
      return {
        kind: "delivered",
        facts: {
          httpStatus: 200,
          remoteStatus: "OK",
          counts: null,
          conflicts: null,
          response: { job: open.jobId, readBack: `all ${objects.length} object(s) found` },
        },
      };
    }
    await finishJob(o.sql, job.id, open.jobId, expired ? "timeout" : "lost");
    const keep = new Set(missing.map((x) => `${x.type}:${x.uid}`));
    return await send(
      job,
      subset(bundle, keep),
      objects.filter((x) => keep.has(`${x.type}:${x.uid}`)),
      ctx,
    );
  }

  /** The objects DHIS2 does not have (404 on read-back); null when a read failed. */
  async function notThere(objects: TrackerObject[]): Promise<TrackerObject[] | null> {
    const missing: TrackerObject[] = [];
    for (const x of objects) {
      const r = await o.client.readBack(x.type, x.uid);
      if (r.kind !== "response") return null;
      if (r.httpStatus === 404) missing.push(x);
      else if (r.httpStatus !== 200) return null;
    }
    return missing;
  }

  return {
    name: TRACKER,
    async deliver(job: ClaimedDelivery, ctx: DeliverContext): Promise<Outcome> {
      const bundle = job.payload as FlatBundle & { purged?: boolean };
      if (bundle.purged) {
        return {
          kind: "give_up",
          facts: {
            httpStatus: null,
            remoteStatus: null,
            counts: null,
            conflicts: null,
            response: null,
          },
          error: "the payload was purged (tracker.payload_retention_days); nothing to send",
        };
      }
      const objects = objectsOf(bundle, job.codes);
      // Per-key FIFO covers the tracked entity a submission is about; this covers the rest
      // (a bundle about several people, an event naming another person's enrollment).
      const refs = objects.flatMap((x) => [x.trackedEntity, x.enrollment])
        .filter((u): u is string => !!u);
      const own = new Set(objects.map((x) => x.uid));
      const waitFor = await createdByEarlierPending(
        o.sql,
        job.submissionId,
        [...new Set(refs)].filter((u) => !own.has(u)),
      );
      if (waitFor.size) {
        return later(ctx, `waiting for an earlier submission to create ${[...waitFor][0]}`);
      }
      const open = await openJob(o.sql, job.id);
      if (open) return await follow(job, open, bundle, objects, ctx);
      return await send(job, bundle, objects, ctx);
    },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function jobIdOf(result: Dhis2Result): string | null {
  if (result.kind !== "response" || result.httpStatus !== 200 || !isRecord(result.body)) {
    return null;
  }
  const r = result.body.response;
  return isRecord(r) && typeof r.id === "string" ? r.id : null;
}

function eventOf(bundle: FlatBundle, uid: string): Record<string, unknown> | undefined {
  return bundle.events?.find((e) => e.event === uid);
}

/** The part of `bundle` whose objects are in `keep` ("TYPE:uid"). */
function subset(bundle: FlatBundle, keep: Set<string>): FlatBundle {
  const out: FlatBundle = { trackedEntities: [], enrollments: [], events: [], relationships: [] };
  for (const [key, type, uidKey] of COLLECTIONS) {
    out[key] = (bundle[key] ?? []).filter((x) => keep.has(`${type}:${x[uidKey]}`));
  }
  return out;
}
