/**
 * What the worker writes after an attempt: from a kind's outcome to the delivery's next status,
 * due time and stored facts. The kind says what happened; the retry budget and schedule, which
 * decide when (or whether) a retry runs, are the queue's. Pure (clock and random passed in), so
 * every branch is tested without a database.
 */
import type { Outcome } from "./kind.ts";
import type { AttemptRecord, DeliveryUpdate } from "./queries.ts";
import { nextRunAt, type RetryOptions, shouldGiveUp } from "./retry_policy.ts";

export interface PlanContext {
  /** This attempt's number since the last manual requeue (1-based). */
  budgetAttempt: number;
  maxRetries: number;
  backoff: RetryOptions;
  /** Used instead of `backoff` when the destination refused our credentials. */
  credentialBackoff: RetryOptions;
  now: Date;
  random: () => number;
}

export interface Plan {
  update: DeliveryUpdate;
  outcome: AttemptRecord["outcome"];
  /** Codes the destination refused (partial/rejected), for the log line. */
  conflictCodes: string[];
}

/**
 * The credential backoff: at least 5 minutes, growing to at least an hour, so a revoked PAT is
 * retried for hours (8 retries ≈ 5 h with the defaults) instead of dying in a minute of 401s.
 */
export function credentialBackoff(backoff: RetryOptions): RetryOptions {
  const baseSeconds = Math.max(300, backoff.baseSeconds);
  return {
    baseSeconds,
    maxSeconds: Math.max(3600, backoff.maxSeconds, baseSeconds),
    jitter: backoff.jitter,
  };
}

export function planOutcome(
  outcome: Exclude<Outcome, { kind: "snooze" }>,
  ctx: PlanContext,
): Plan {
  const f = outcome.facts;
  const base = {
    httpStatus: f.httpStatus,
    dhis2Status: f.remoteStatus,
    counts: f.counts ? { ...f.counts } : null,
    response: f.response ?? null,
    credentialProblem: false,
    conflicts: f.conflicts,
    runAt: null as Date | null,
  };
  switch (outcome.kind) {
    case "delivered":
      return {
        // A note (e.g. which newer submission superseded some values) is kept where an error
        // would be: the console and the attempt history show it.
        update: { ...base, status: "delivered", lastError: outcome.note ?? null },
        outcome: "delivered",
        conflictCodes: [],
      };
    case "partial":
    case "rejected":
      return {
        update: { ...base, status: outcome.kind, lastError: outcome.error },
        outcome: outcome.kind,
        conflictCodes: outcome.refusedCodes,
      };
    case "give_up":
      return {
        update: { ...base, status: "dead", lastError: outcome.error },
        outcome: "dead",
        conflictCodes: [],
      };
    case "retry": {
      const credentialProblem = outcome.credentialProblem;
      const reason = credentialProblem
        ? `destination credential problem: ${outcome.error}`
        : outcome.error;
      if (shouldGiveUp(ctx.budgetAttempt, ctx.maxRetries)) {
        return {
          update: {
            ...base,
            status: "dead",
            credentialProblem,
            lastError: `gave up after ${ctx.budgetAttempt} attempt(s): ${reason}`,
          },
          outcome: "dead",
          conflictCodes: [],
        };
      }
      const opts = credentialProblem ? ctx.credentialBackoff : ctx.backoff;
      return {
        update: {
          ...base,
          status: "retrying",
          credentialProblem,
          lastError: reason,
          runAt: nextRunAt(ctx.budgetAttempt, ctx.now, ctx.random, opts),
        },
        outcome: "retry",
        conflictCodes: [],
      };
    }
  }
}
