/**
 * The worker's batch path: a claimed batch goes to its kind's batch capability as one unit, and
 * every delivery's outcome comes back on its own, each through the same retry policy as a
 * lone delivery (its own budget, its own schedule). The exchanges and all attempt rows are
 * recorded in two statements, whatever the batch size: per-delivery statements would cost more
 * than the import itself (1,000 deliveries ≈ 1,000 round trips).
 */
import { isDatabaseUnavailable, type Sql } from "../db/db.ts";
import type { Logger } from "../logs/logger.ts";
import { dhis2RequestDuration, recordBatch } from "../metrics/metrics.ts";
import { type BatchAttempt, recordBatchOutcomes } from "./batch_queries.ts";
import type { CircuitBreaker } from "./circuit_breaker.ts";
import type { DestinationLimits } from "./destination_claim.ts";
import { takeToken } from "./destination_tokens.ts";
import type { BatchResult, ClaimedDelivery, DeliveryKind } from "./kind.ts";
import { credentialBackoff, planOutcome } from "./outcome_plan.ts";
import { snooze } from "./queries.ts";
import { countOutcome, logOutcome } from "./outcome_report.ts";
import type { RetryOptions } from "./retry_policy.ts";
import type { Plan } from "./outcome_plan.ts";

export interface AttemptEvent {
  /** The submission the delivery belongs to. */
  id: number;
  deliveryId: number;
  attempt: number;
  /** The attempt's outcome, or `snoozed` (no attempt used) / `fenced` (lease lost meanwhile). */
  outcome: Plan["outcome"] | "snoozed" | "fenced";
  status?: string;
}

export interface BatchDeps {
  sql: Sql;
  log: Logger;
  workerId: string;
  breaker: CircuitBreaker;
  now: () => Date;
  random: () => number;
  backoff: RetryOptions;
  /** The destination's limits: a batch's requests beyond the claim's first spend rate tokens. */
  limits?: DestinationLimits;
  onAttempt?: (event: AttemptEvent) => void;
}

/** Sends one claimed batch and records it; true when a delivery finished. */
export async function deliverBatch(
  group: readonly ClaimedDelivery[],
  kind: DeliveryKind,
  d: BatchDeps,
): Promise<boolean> {
  const log = d.log.child({ deliveries: group.length, kind: kind.name });
  try {
    const startedAt = d.now();
    if (!d.breaker.canAttempt(startedAt)) {
      const next = d.breaker.snapshot(startedAt).nextProbeAt?.getTime() ?? 0;
      const until = new Date(Math.max(next, startedAt.getTime() + 1000));
      for (const job of group) {
        await snooze(d.sql, job, d.workerId, until);
        d.onAttempt?.({
          id: job.submissionId,
          deliveryId: job.id,
          attempt: job.attempt,
          outcome: "snoozed",
        });
      }
      log.info("batch snoozed: DHIS2 circuit open", { until: until.toISOString() });
      return false;
    }
    const t0 = performance.now();
    const limits = d.limits;
    const result = await kind.batch!.deliverBatch(group, {
      now: d.now,
      ...(limits?.ratePerSecond ? { beforeRequest: () => takeToken(d.sql, limits) } : {}),
    });
    const finishedAt = d.now();
    const durationMs = Math.round(performance.now() - t0);
    const destination = group[0].destination;
    dhis2RequestDuration.observe({ destination }, durationMs / 1000);
    recordBatch(destination, group.length, result.exchanges[0]?.size);
    // The whole batch failed as one (down, overloaded, credentials): the breaker's business.
    // Anything attributed means DHIS2 is up and answering.
    if (result.exchanges.length && result.exchanges.every((e) => e.result === "failed")) {
      d.breaker.onFailure(finishedAt);
    } else d.breaker.onSuccess(finishedAt);

    const jobs = new Map(group.map((j) => [j.id, j]));
    const items: BatchAttempt[] = [];
    const plans = new Map<number, { plan: Plan; batchId: string | null }>();
    const counts: Record<string, number> = {};
    for (const o of result.outcomes) {
      const job = jobs.get(o.deliveryId);
      if (!job) throw new Error(`batch outcome for delivery ${o.deliveryId}, not in the batch`);
      const plan = planOutcome(o.outcome, {
        budgetAttempt: job.attempt - job.attemptsAtRequeue,
        maxRetries: job.maxAttempts - 1,
        backoff: d.backoff,
        credentialBackoff: credentialBackoff(d.backoff),
        now: finishedAt,
        random: d.random,
      });
      counts[plan.outcome] = (counts[plan.outcome] ?? 0) + 1;
      items.push({
        job,
        update: plan.update,
        attempt: { outcome: plan.outcome, startedAt, finishedAt, durationMs },
        batchId: o.batchId,
      });
      plans.set(job.id, { plan, batchId: o.batchId });
    }
    if (items.length !== group.length) {
      throw new Error(`the kind decided ${items.length} of ${group.length} deliveries`);
    }
    const recorded = await record(d, kind.name, group, result, items);
    log.info("batch sent", {
      batch: result.exchanges[0]?.id,
      exchanges: result.exchanges.length,
      values: result.exchanges[0]?.size ?? 0,
      durationMs,
      fenced: group.length - recorded.size,
      ...counts,
    });
    let released = false;
    for (const it of items) {
      const ok = recorded.has(it.job.id);
      const job = jobs.get(it.job.id)!;
      d.onAttempt?.({
        id: job.submissionId,
        deliveryId: job.id,
        attempt: job.attempt,
        outcome: ok ? it.attempt.outcome : "fenced",
        status: it.update.status,
      });
      if (ok && it.update.status !== "retrying") released = true;
      countOutcome(destination, plans.get(job.id)!.plan, ok);
      // One line per submission, worded as on the lone path, after recording as there.
      logOutcome(
        log,
        plans.get(job.id)!.plan,
        {
          submissionId: job.submissionId,
          deliveryId: job.id,
          taskId: job.taskId,
          batch: it.batchId,
        },
        ok,
      );
    }
    return released;
  } catch (err) {
    log.error("batch failed unexpectedly; the leases will return it", { error: err as Error });
    return false;
  }
}

/** The exchanges happened: try hard to record them, a failed record means re-sending. */
async function record(
  d: BatchDeps,
  kind: string,
  group: readonly ClaimedDelivery[],
  result: BatchResult,
  items: BatchAttempt[],
): Promise<Set<number>> {
  const lockedUntil = Math.min(...group.map((j) => j.lockedUntil.getTime()));
  const batchKey = group[0].batchKey ?? null;
  for (let i = 0;; i++) {
    try {
      return await recordBatchOutcomes(
        d.sql,
        d.workerId,
        kind,
        group[0].destination,
        batchKey,
        result.exchanges,
        items,
      );
    } catch (err) {
      const delay = Math.min(250 * 2 ** i, 2000);
      const again = i < 3 || isDatabaseUnavailable(err);
      if (!again || Date.now() + delay >= lockedUntil) throw err;
      d.log.warn("recording a batch failed; trying again", { error: err as Error });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
