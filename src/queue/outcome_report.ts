/**
 * What an attempt's outcome tells operators, the same for a lone delivery and for each delivery
 * of a batch: one log line worded by outcome (an operator greps one task id), and the metrics.
 */
import type { Logger } from "../logs/logger.ts";
import { deliveriesFinished, deliveryAttempts } from "../metrics/metrics.ts";
import type { Plan } from "./outcome_plan.ts";
import { FINISHED_STATUSES } from "./queries.ts";

export function countOutcome(destination: string, plan: Plan, recorded: boolean): void {
  deliveryAttempts.inc({ destination, outcome: recorded ? plan.outcome : "fenced" });
  const status = plan.update.status as (typeof FINISHED_STATUSES)[number];
  if (recorded && FINISHED_STATUSES.includes(status)) {
    deliveriesFinished.inc({ destination, outcome: status });
  }
}

/** `extra`: what the caller's logger lacks (the attempt's duration, the batch it rode in). */
export function logOutcome(
  log: Logger,
  plan: Plan,
  extra: Record<string, unknown>,
  recorded: boolean,
): void {
  const u = plan.update;
  const fields: Record<string, unknown> = {
    status: u.status,
    httpStatus: u.httpStatus,
    dhis2Status: u.dhis2Status,
    ...extra,
    ...(u.counts ?? {}),
  };
  if (!recorded) {
    log.warn("outcome discarded: the lease expired and the submission was taken back", fields);
    return;
  }
  switch (plan.outcome) {
    case "delivered":
      log.info("submission delivered", fields);
      break;
    case "partial":
      log.warn("submission partly imported", { ...fields, refusedCodes: plan.conflictCodes });
      break;
    case "rejected":
      log.warn("submission rejected by DHIS2", {
        ...fields,
        reason: u.lastError,
        refusedCodes: plan.conflictCodes,
      });
      break;
    case "retry":
      // warn, not info: an operator filtering on warn must see DHIS2 failing (issue 14).
      log.warn("delivery failed; will retry", {
        ...fields,
        reason: u.lastError,
        credentialProblem: u.credentialProblem,
        runAt: u.runAt?.toISOString(),
      });
      break;
    case "dead":
      log.error("submission dead: out of retries", { ...fields, reason: u.lastError });
      break;
  }
}
