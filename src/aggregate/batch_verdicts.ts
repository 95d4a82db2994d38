/**
 * A batch reply taken apart per submission (batch.ts decides when it can be), the lone
 * submission's verdict inside a batch, and the completion registrations sent after the import.
 */
import type {
  CompleteRegistration,
  DataValueSetPayload,
  Dhis2Client,
  Dhis2Result,
} from "../dhis2/client.ts";
import {
  decideOutcome,
  type Dhis2Conflict,
  extractImportSummary,
  type ImportSummaryView,
  mapConflictsToCodes,
  type SourceConflict,
} from "../dhis2/outcome.ts";
import type { Outcome, OutcomeFacts } from "../queue/kind.ts";
import { supersededNote, type Unit } from "./batch_units.ts";
import { normalisedPeriod } from "./ordering_key.ts";
import { aggregateOutcome } from "./outcome.ts";

type Final = Exclude<Outcome, { kind: "snooze" }>;

/** Adds the "superseded by a newer submission" note where a person reads the outcome. */
export function withNote(outcome: Final, unit: Unit): Final {
  const note = supersededNote(unit);
  if (!note) return outcome;
  if (outcome.kind === "delivered") return { ...outcome, note };
  if (outcome.kind === "partial" || outcome.kind === "rejected") {
    return { ...outcome, error: `${outcome.error} (${note})` };
  }
  return outcome;
}

/** Conflict indexes point into what was sent; stored, they point into the submission's payload. */
function rebase(conflicts: unknown[] | null, unit: Unit): unknown[] | null {
  if (!conflicts) return conflicts;
  return (conflicts as SourceConflict[]).map((c) => ({
    ...c,
    indexes: c.indexes.map((i) => unit.items[i]?.index ?? i),
  }));
}

/** One submission alone in an import: exactly the lone delivery's verdict. */
export function singleOutcome(
  unit: Unit,
  payload: DataValueSetPayload,
  reply: Dhis2Result,
  saveResponse: boolean,
): Final {
  const codes = unit.items.map((it) => unit.job.codes[it.index] ?? "");
  const out = aggregateOutcome(reply, payload, codes, saveResponse);
  const facts = { ...out.facts, conflicts: rebase(out.facts.conflicts, unit) };
  return withNote({ ...out, facts } as Final, unit);
}

/** Each submission's share of an attributable reply: its conflicts, its outcome. */
export function attributed(
  units: readonly Unit[],
  summary: ImportSummaryView,
  indexesOf: (c: Dhis2Conflict) => number[],
  reply: Dhis2Result,
  batchId: string,
  saveResponse: boolean,
): Final[] {
  const owner: number[] = [];
  const start: number[] = [];
  units.forEach((u, ui) => {
    start.push(owner.length);
    for (let k = 0; k < u.items.length; k++) owner.push(ui);
  });
  const own = units.map(() => ({ conflicts: [] as Dhis2Conflict[], refused: new Set<number>() }));
  for (const c of summary.conflicts) {
    const byUnit = new Map<number, number[]>();
    for (const i of indexesOf(c)) {
      const ui = owner[i];
      const local = i - start[ui];
      own[ui].refused.add(local);
      const list = byUnit.get(ui) ?? [];
      list.push(units[ui].items[local].index);
      byUnit.set(ui, list);
    }
    for (const [ui, indexes] of byUnit) own[ui].conflicts.push({ ...c, indexes });
  }
  // Refused by strategy without a conflict (CREATE on an existing value, …).
  for (const i of summary.rejectedIndexes) {
    if (i >= 0 && i < owner.length) own[owner[i]].refused.add(i - start[owner[i]]);
  }
  const httpStatus = reply.kind === "response" ? reply.httpStatus : null;
  return units.map((u, ui) => {
    const { conflicts, refused } = own[ui];
    const sent = u.items.length;
    const mapped = mapConflictsToCodes(conflicts, u.payload.dataValues, u.job.codes);
    const facts: OutcomeFacts = {
      httpStatus,
      // This submission's part of the reply, in DHIS2's words.
      remoteStatus: refused.size === 0 ? "SUCCESS" : refused.size >= sent ? "ERROR" : "WARNING",
      counts: null,
      conflicts: refused.size ? mapped : null,
      response: saveResponse
        ? {
          batch: batchId,
          batchStatus: summary.status,
          batchImportCount: summary.counts ?? null,
          valuesSent: sent,
          conflicts,
          refusedIndexes: [...refused].map((l) => u.items[l].index).sort((a, b) => a - b),
        }
        : null,
    };
    const codes = [...new Set(mapped.flatMap((c) => c.codes))];
    let out: Final;
    if (refused.size === 0) out = { kind: "delivered", facts };
    else if (refused.size >= sent) {
      out = {
        kind: "rejected",
        facts,
        refusedCodes: codes,
        error: `every data value was rejected: ${digest(mapped) || "by import strategy"}`,
      };
    } else {
      out = {
        kind: "partial",
        facts,
        refusedCodes: codes,
        error: `DHIS2 refused ${refused.size} of ${sent} value(s)` +
          `${codes.length ? ` (codes ${codes.join(", ")})` : ""}: ${digest(mapped)}`,
      };
    }
    return withNote(out, u);
  });
}

function digest(conflicts: readonly SourceConflict[]): string {
  const parts = conflicts.slice(0, 3).map((c) => `${c.errorCode ?? ""} ${c.message}`.trim());
  if (conflicts.length > 3) parts.push(`and ${conflicts.length - 3} more`);
  return parts.join("; ");
}

/**
 * Registers completion for the submissions that asked for it (`completeDate`) and had values
 * written. A failure that may pass retries them (their values are re-sent unchanged: ignored);
 * a refusal leaves the values delivered and says so (`partial`).
 */
export async function registerCompletion(
  o: { client: Partial<Pick<Dhis2Client, "postCompleteDataSetRegistrations">> },
  units: readonly Unit[],
  decisions: Map<number, { outcome: Final; batchId: string | null }>,
  /** Waits for the destination's rate limit before the request. */
  beforeRequest: () => Promise<void> = () => Promise.resolve(),
): Promise<void> {
  const regs = new Map<string, { reg: CompleteRegistration; ids: number[] }>();
  for (const u of units) {
    const p = u.payload;
    const d = decisions.get(u.job.id);
    if (!p.completeDate || !p.dataSet || !p.period || !p.orgUnit || !d) continue;
    if (d.outcome.kind !== "delivered" && d.outcome.kind !== "partial") continue;
    const aoc = p.attributeOptionCombo ?? p.dataValues[0]?.attributeOptionCombo;
    const key = [p.dataSet, normalisedPeriod(p.period), p.orgUnit, aoc ?? ""].join("|");
    const entry = regs.get(key) ?? {
      reg: {
        dataSet: p.dataSet,
        period: p.period,
        organisationUnit: p.orgUnit,
        ...(aoc ? { attributeOptionCombo: aoc } : {}),
        date: p.completeDate,
        completed: true,
      },
      ids: [],
    };
    entry.ids.push(u.job.id);
    regs.set(key, entry);
  }
  if (!regs.size || !o.client.postCompleteDataSetRegistrations) return;
  await beforeRequest();
  const reply = await o.client.postCompleteDataSetRegistrations(
    [...regs.values()].map((r) => r.reg),
  );
  const summary =
    reply.kind === "response" && (reply.httpStatus === 200 || reply.httpStatus === 409)
      ? extractImportSummary(reply.body)
      : null;
  if (summary && summary.status !== "ERROR" && summary.conflicts.length === 0) return;
  const decided = decideOutcome(reply);
  const transient = decided.kind === "retry" ||
    (summary?.status === "ERROR" && !summary.conflicts.length);
  const reason = decided.kind === "retry" || decided.kind === "rejected"
    ? decided.reason
    : summary?.conflicts.map((c) => `${c.errorCode ?? ""} ${c.value}`.trim()).join("; ") ??
      "refused";
  for (const { ids } of regs.values()) {
    for (const id of ids) {
      const d = decisions.get(id)!;
      const prev = d.outcome as Extract<Final, { kind: "delivered" | "partial" }>;
      if (transient) {
        d.outcome = {
          kind: "retry",
          facts: prev.facts,
          error: `completion not registered: ${reason}`,
          credentialProblem: decided.kind === "retry" && decided.credentialProblem === true,
        };
      } else if (prev.kind === "delivered") {
        d.outcome = {
          kind: "partial",
          facts: prev.facts,
          error: `values delivered; completion refused: ${reason}`,
          refusedCodes: [],
        };
      } else d.outcome = { ...prev, error: `${prev.error}; completion refused: ${reason}` };
    }
  }
}
