/**
 * From a DHIS2 reply to `POST /api/dataValueSets` to the queue's outcome value: dhis2/outcome.ts
 * classifies the reply, this names the request codes behind each refused value and words the
 * error a person reads in the logs.
 */
import type { DataValueSetPayload, Dhis2Result } from "../dhis2/client.ts";
import { decideOutcome, mapConflictsToCodes, type SourceConflict } from "../dhis2/outcome.ts";
import type { Outcome, OutcomeFacts } from "../queue/kind.ts";

export function aggregateOutcome(
  result: Dhis2Result,
  payload: DataValueSetPayload,
  codes: readonly string[],
  saveResponse: boolean,
): Exclude<Outcome, { kind: "snooze" }> {
  const outcome = decideOutcome(result, payload);
  const dataValues = payload.dataValues;
  const facts: OutcomeFacts = {
    httpStatus: outcome.httpStatus ?? (result.kind === "response" ? result.httpStatus : null),
    remoteStatus: outcome.dhis2Status ?? null,
    counts: outcome.counts ? { ...outcome.counts } : null,
    conflicts: null,
    response: saveResponse && result.kind === "response" ? responseBody(result) : null,
  };
  switch (outcome.kind) {
    case "delivered":
      return { kind: "delivered", facts };
    case "partial": {
      const conflicts = mapConflictsToCodes(outcome.conflicts, dataValues, codes);
      const refused = uniqueCodes(conflicts);
      return {
        kind: "partial",
        facts: { ...facts, conflicts },
        refusedCodes: refused,
        error: `DHIS2 refused ${outcome.rejectedIndexes.length} of ${dataValues.length} ` +
          `value(s)${refused.length ? ` (codes ${refused.join(", ")})` : ""}: ${digest(conflicts)}`,
      };
    }
    case "rejected": {
      const conflicts = outcome.conflicts?.length
        ? mapConflictsToCodes(outcome.conflicts, dataValues, codes)
        : null;
      return {
        kind: "rejected",
        facts: { ...facts, conflicts },
        refusedCodes: conflicts ? uniqueCodes(conflicts) : [],
        error: outcome.reason,
      };
    }
    case "retry":
      return {
        kind: "retry",
        facts,
        error: outcome.reason,
        credentialProblem: outcome.credentialProblem === true,
      };
  }
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
