/**
 * The old service's status names (old-go-service.md §5.2) and today's states, both ways.
 * The old service stored `queued`, `failed`, or DHIS2's top-level status (`OK`, `WARNING`;
 * `SUCCESS`/`ERROR` before 2.38); its log viewer also offered Asynq's task states.
 */
import { STATUSES, type SubmissionStatus } from "../queue/queries.ts";

/** What an old client sees for each state. */
export const OLD_STATUS: Readonly<Record<SubmissionStatus, string>> = {
  queued: "queued",
  // The old service kept `queued` until its one attempt finished.
  running: "queued",
  retrying: "queued",
  delivered: "OK",
  partial: "WARNING",
  rejected: "failed",
  dead: "failed",
};

/** An old filter value → the states it means (case as the old service wrote them). */
const FROM_OLD: Readonly<Record<string, readonly SubmissionStatus[]>> = {
  queued: ["queued", "running", "retrying"],
  pending: ["queued"],
  scheduled: ["queued"],
  active: ["running"],
  retry: ["retrying"],
  OK: ["delivered"],
  SUCCESS: ["delivered"],
  success: ["delivered"],
  succeeded: ["delivered"],
  completed: ["delivered", "partial"],
  WARNING: ["partial"],
  failed: ["rejected", "dead"],
  ERROR: ["rejected", "dead"],
  archived: ["dead"],
};

/**
 * The states an old `status` filter value stands for: an old name, or one of today's, which
 * pass unchanged. Empty for a value that is neither (the old service's exact match then found
 * nothing, and so does this).
 */
export function statesFor(value: string): SubmissionStatus[] {
  if (Object.hasOwn(FROM_OLD, value)) return [...FROM_OLD[value]];
  return STATUSES.includes(value as SubmissionStatus) ? [value as SubmissionStatus] : [];
}
