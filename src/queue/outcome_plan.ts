/**
 * What the worker writes after an attempt: from `decideOutcome`'s verdict to the submission's
 * next status, due time and stored facts. Pure (clock and random passed in), so every branch is
 * tested without a database.
 */
import type { Dhis2Result } from "../dhis2/client.ts";
import {
  type DeliveryOutcome,
  type ImportCounts,
  mapConflictsToCodes,
  type SourceConflict,
} from "../dhis2/outcome.ts";
import type { AttemptRecord, SubmissionUpdate } from "./queries.ts";
import { nextRunAt, type RetryOptions, shouldGiveUp } from "./retry_policy.ts";

export interface PlanContext {
  /** This attempt's number since the last manual requeue (1-based). */
  budgetAttempt: number;
  maxRetries: number;
  backoff: RetryOptions;
  /** Used instead of `backoff` when DHIS2 refused our credentials. */
  credentialBackoff: RetryOptions;
  now: Date;
  random: () => number;
  /** payload.dataValues that were sent, and the request code behind each index. */
  dataValues: readonly unknown[];
  codes: readonly string[];
  saveResponse: boolean;
}

export interface Plan {
  update: SubmissionUpdate;
  outcome: AttemptRecord["outcome"];
  /** Source codes DHIS2 refused (partial/rejected), for the log line. */
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
  outcome: DeliveryOutcome,
  result: Dhis2Result,
  ctx: PlanContext,
): Plan {
  const httpStatus = outcome.httpStatus ??
    (result.kind === "response" ? result.httpStatus : null);
  const base = {
    httpStatus,
    dhis2Status: outcome.dhis2Status ?? null,
    counts: countsOf(outcome.counts),
    response: ctx.saveResponse && result.kind === "response" ? responseBody(result) : null,
    credentialProblem: false,
    conflicts: null as SourceConflict[] | null,
    runAt: null as Date | null,
  };
  switch (outcome.kind) {
    case "delivered":
      return {
        update: { ...base, status: "delivered", lastError: null },
        outcome: "delivered",
        conflictCodes: [],
      };
    case "partial": {
      const conflicts = mapConflictsToCodes(outcome.conflicts, ctx.dataValues, ctx.codes);
      const codes = uniqueCodes(conflicts);
      return {
        update: {
          ...base,
          status: "partial",
          conflicts,
          lastError:
            `DHIS2 refused ${outcome.rejectedIndexes.length} of ${ctx.dataValues.length} ` +
            `value(s)${codes.length ? ` (codes ${codes.join(", ")})` : ""}: ${digest(conflicts)}`,
        },
        outcome: "partial",
        conflictCodes: codes,
      };
    }
    case "rejected": {
      const conflicts = outcome.conflicts?.length
        ? mapConflictsToCodes(outcome.conflicts, ctx.dataValues, ctx.codes)
        : null;
      return {
        update: { ...base, status: "rejected", conflicts, lastError: outcome.reason },
        outcome: "rejected",
        conflictCodes: conflicts ? uniqueCodes(conflicts) : [],
      };
    }
    case "retry": {
      const credentialProblem = outcome.credentialProblem === true;
      const reason = credentialProblem
        ? `destination credential problem: ${outcome.reason}`
        : outcome.reason;
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

function countsOf(counts: ImportCounts | undefined): SubmissionUpdate["counts"] {
  return counts ? { ...counts } : null;
}

function responseBody(result: Extract<Dhis2Result, { kind: "response" }>): unknown {
  if (result.body !== null) return result.body;
  return result.rawBody ? { raw: result.rawBody } : null;
}

function uniqueCodes(conflicts: readonly SourceConflict[]): string[] {
  return [...new Set(conflicts.flatMap((c) => c.codes))];
}

function digest(conflicts: readonly SourceConflict[]): string {
  const parts = conflicts.slice(0, 3).map((c) => `${c.errorCode ?? ""} ${c.message}`.trim());
  if (conflicts.length > 3) parts.push(`and ${conflicts.length - 3} more`);
  return parts.join("; ");
}
