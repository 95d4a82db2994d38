/**
 * The one place that turns a DHIS2 reply to `POST /api/dataValueSets` into a delivery outcome.
 *
 * DHIS2 answers 200 and 409 alike with an import summary (409 for WARNING and ERROR in
 * 2.38–2.42, §3.4), wrapped in a WebMessage from 2.38 on and bare before that or on
 * `/api/37/…` paths (§0.3). So the decision is taken on the summary's status and counts,
 * never on the HTTP code alone.
 *
 * Retried vs final (paths in dhis2/dhis2-core; the simulator's `transientImportFailure`
 * produces each transient reply):
 * - ERROR with conflicts (E7600–E7604 abort in 2.38–2.42; E8xxx group or value errors in 2.43):
 *   the payload is at fault, final (`rejected`).
 * - ERROR without conflicts: 2.38–2.42 turn *any* exception of the import into this — a
 *   deadlock or lost connection while the batch handler flushes values too
 *   (`DefaultDataValueSetService.importDataValueSet`, `catch (Exception ex)`, 2.42.0
 *   l.632-646, reference §12). Retried up to the budget, then `dead` with DHIS2's text. The
 *   same shape covers a few permanent faults (an unreadable body, a bad `completeDate`), which
 *   the gateway's own payloads do not produce; they end `dead` after the budget.
 * - 2.43 (`DataEntryPipeline`): only `BadRequestException`/`ConflictException` become a summary
 *   (ERROR, conflicts with E8xxx codes, final). A failed write is swallowed by
 *   `progress.runStage(0, …)` in `DefaultDataEntryService.upsertGroup`, so it shows as values
 *   `ignored` without a conflict (`DataEntrySummary.toImportSummary`; 2.43 summaries carry no
 *   `description`), or, when the exception surfaces later, as a 500 WebMessage
 *   (`CrudControllerAdvice.defaultExceptionHandler`) or a 409 WebMessage without `errorCode`
 *   (`persistenceExceptionHandler`). All three are retried.
 * - 409 WebMessage without a summary: with an `errorCode` it is a deliberate `ConflictException`
 *   (final); without one an exception escaped (`PersistenceException`, `IllegalStateException`,
 *   `CrudControllerAdvice`), retried.
 */
// The counts are the ones every delivery records (queue/kind.ts owns them); a type, no code.
import type { ImportCounts } from "../queue/kind.ts";
import { type Dhis2Result, isRecord } from "./client.ts";

/** A conflict as DHIS2 sends it (§3.3); legacy conflicts carry only `object` and `value`. */
export interface Dhis2Conflict {
  object: string;
  objects?: Record<string, string>;
  /** The message text (the field name is kept for backward compatibility). */
  value: string;
  errorCode?: string;
  property?: string;
  /** 0-based positions in the `dataValues` array that was sent. */
  indexes?: number[];
}

export interface ImportSummaryView {
  /** `SUCCESS` | `WARNING` | `ERROR` (ImportStatus, not the WebMessage's `OK`). */
  status: string;
  description?: string;
  counts?: ImportCounts;
  conflicts: Dhis2Conflict[];
  rejectedIndexes: number[];
  /** True when it came inside a WebMessage (2.38+), false for a bare summary. */
  wrapped: boolean;
}

interface Facts {
  httpStatus?: number;
  /** The ImportSummary status, when the reply carried one. */
  dhis2Status?: string;
}

export type DeliveryOutcome =
  | Facts & { kind: "delivered"; counts: ImportCounts }
  | Facts & {
    kind: "partial";
    counts: ImportCounts;
    conflicts: Dhis2Conflict[];
    rejectedIndexes: number[];
  }
  | Facts & {
    kind: "rejected";
    reason: string;
    counts?: ImportCounts;
    conflicts?: Dhis2Conflict[];
  }
  | Facts & { kind: "retry"; reason: string; credentialProblem?: boolean; counts?: ImportCounts };

const ZERO: ImportCounts = { imported: 0, updated: 0, ignored: 0, deleted: 0 };

/**
 * Maps a client result to an outcome. `request` is the payload that was sent; with it, "every
 * value was rejected" is decided against the real number of values instead of the counts.
 */
export function decideOutcome(
  result: Dhis2Result,
  request?: { dataValues: readonly unknown[] },
): DeliveryOutcome {
  if (result.kind === "transport_error") {
    // Re-posting is safe: values are upserted on their natural key (§3.5, §8.4).
    return { kind: "retry", reason: result.error };
  }
  const { httpStatus, body } = result;
  const summary = httpStatus === 200 || httpStatus === 409 ? extractImportSummary(body) : null;
  if (summary) return fromSummary(summary, httpStatus, request);

  const message = webMessageText(body);
  const described = `DHIS2 answered HTTP ${httpStatus}${message ? `: ${message}` : ""}`;
  if (httpStatus === 401 || httpStatus === 403) {
    return { kind: "retry", reason: described, credentialProblem: true, httpStatus };
  }
  // 2.41+ refuse a malformed or bad-checksum PAT with 400, not 401 (§1.2).
  if (httpStatus === 400 && /api token|checksum validation/i.test(message ?? "")) {
    return { kind: "retry", reason: described, credentialProblem: true, httpStatus };
  }
  if (httpStatus >= 300 && httpStatus < 400) {
    // No credentials recognised → DHIS2 redirects to its login page (§1.1).
    if (/login/i.test(result.location ?? "")) {
      return {
        kind: "retry",
        reason: `DHIS2 redirected to its login page (HTTP ${httpStatus})`,
        credentialProblem: true,
        httpStatus,
      };
    }
    return {
      kind: "rejected",
      reason: `DHIS2 answered with a redirect (HTTP ${httpStatus}); check the base URL`,
      httpStatus,
    };
  }
  if (httpStatus === 408 || httpStatus === 429 || httpStatus >= 500) {
    return { kind: "retry", reason: described, httpStatus };
  }
  if (httpStatus === 409 && !hasErrorCode(body)) {
    // An exception that escaped the import, not a coded conflict (see the header).
    return { kind: "retry", reason: described, httpStatus };
  }
  if (httpStatus >= 400) return { kind: "rejected", reason: described, httpStatus };
  // A 2xx without an import summary (a captive portal, a misrouted proxy): nothing says the
  // values were stored, and sending them again is harmless.
  return {
    kind: "retry",
    reason: `DHIS2 answered HTTP ${httpStatus} without an import summary`,
    httpStatus,
  };
}

function fromSummary(
  summary: ImportSummaryView,
  httpStatus: number,
  request?: { dataValues: readonly unknown[] },
): DeliveryOutcome {
  const counts = summary.counts ?? { ...ZERO };
  const facts = { httpStatus, dhis2Status: summary.status, counts };
  const { conflicts, rejectedIndexes } = summary;
  if (summary.status === "ERROR" && conflicts.length === 0) {
    // 2.38–2.42's catch-all for an exception during the import (see the header).
    const reason = summary.description ?? "DHIS2 reported an import ERROR without a conflict";
    return { kind: "retry", reason, ...facts };
  }
  // Without `rejectedIndexes` (2.38.x, 2.39.0–2.39.1, 2.40.0) the conflicts' indexes tell.
  const rejected = new Set(rejectedIndexes);
  for (const c of conflicts) for (const i of c.indexes ?? []) if (i >= 0) rejected.add(i);
  // 2.43 reports a payload it could not decode at index -1: the whole payload is refused.
  const undecodable = conflicts.some((c) => c.indexes?.includes(-1));
  const unexplained = undecodable ? 0 : swallowedWrites(summary, counts, rejected.size);
  if (unexplained > 0) {
    const sent = request ? ` of ${request.dataValues.length}` : "";
    return {
      kind: "retry",
      reason: `DHIS2 ignored ${unexplained}${sent} value(s) without a conflict: its write failed`,
      ...facts,
    };
  }
  if (summary.status === "ERROR" || undecodable) {
    // Aborted (data-set level check) or refused as a whole: the same payload fails again.
    return { kind: "rejected", reason: errorReason(summary), conflicts, ...facts };
  }
  if (conflicts.length === 0 && rejected.size === 0) return { kind: "delivered", ...facts };

  const written = counts.imported + counts.updated + counts.deleted;
  // Unchanged re-sent values are `ignored` without a conflict (§3.5), so "nothing written" alone
  // does not mean "all rejected": every ignored value must also be a rejected one.
  const allRejected = written === 0 &&
    (request ? rejected.size >= request.dataValues.length : rejected.size >= counts.ignored);
  if (allRejected) {
    return {
      kind: "rejected",
      reason: `every data value was rejected: ${conflictDigest(conflicts) || "by import strategy"}`,
      conflicts,
      ...facts,
    };
  }
  return {
    kind: "partial",
    conflicts,
    rejectedIndexes: [...rejected].sort((a, b) => a - b),
    ...facts,
  };
}

/**
 * Values 2.43 counted `ignored` without a conflict or a rejected index: its write failed and
 * `upsertGroup` carried on with 0 written (see the header). Its upsert counts unchanged values
 * as updated, so nothing else leaves a value ignored silently. Up to 2.42 an unchanged re-sent
 * value is `ignored` without a conflict (§3.5), so the rule only applies to 2.43's summaries,
 * told apart by the `description` every earlier one carries (`DefaultDataValueSetService`).
 */
function swallowedWrites(summary: ImportSummaryView, counts: ImportCounts, explained: number) {
  if (!summary.wrapped || summary.description !== undefined) return 0;
  return counts.ignored - explained;
}

/** The import summary inside a WebMessage (2.38+) or a bare one (older, `/api/37/`), or null. */
export function extractImportSummary(body: unknown): ImportSummaryView | null {
  if (!isRecord(body)) return null;
  if (isSummary(body.response)) return toView(body.response, true);
  // A WebMessage (it has httpStatusCode) without a summary inside is not a summary itself.
  if (!("httpStatusCode" in body) && isSummary(body)) return toView(body, false);
  return null;
}

function isSummary(value: unknown): value is Record<string, unknown> {
  if (!isRecord(value)) return false;
  if (value.responseType === "ImportSummary") return true;
  return typeof value.status === "string" &&
    (isRecord(value.importCount) || Array.isArray(value.conflicts));
}

function toView(raw: Record<string, unknown>, wrapped: boolean): ImportSummaryView {
  const status = String(raw.status).toUpperCase();
  const view: ImportSummaryView = {
    // Some pre-2.38 replies used OK where ImportStatus later says SUCCESS.
    status: status === "OK" ? "SUCCESS" : status,
    conflicts: Array.isArray(raw.conflicts) ? raw.conflicts.flatMap(toConflict) : [],
    rejectedIndexes: Array.isArray(raw.rejectedIndexes)
      ? raw.rejectedIndexes.filter(Number.isInteger)
      : [],
    wrapped,
  };
  if (typeof raw.description === "string") view.description = raw.description;
  if (isRecord(raw.importCount)) {
    const n = (k: keyof ImportCounts) => {
      const v = (raw.importCount as Record<string, unknown>)[k];
      return typeof v === "number" ? v : 0;
    };
    view.counts = {
      imported: n("imported"),
      updated: n("updated"),
      ignored: n("ignored"),
      deleted: n("deleted"),
    };
  }
  return view;
}

function toConflict(raw: unknown): Dhis2Conflict[] {
  if (!isRecord(raw)) return [];
  const objects = isRecord(raw.objects)
    ? Object.fromEntries(Object.entries(raw.objects).map(([k, v]) => [k, String(v)]))
    : undefined;
  const conflict: Dhis2Conflict = {
    // 2.43 sends `object: null` and the offending identifiers as `objects: {args}` (§12).
    object: typeof raw.object === "string"
      ? raw.object
      : objects?.args ?? Object.values(objects ?? {})[0] ?? "",
    value: typeof raw.value === "string" ? raw.value : String(raw.value ?? ""),
  };
  if (objects) conflict.objects = objects;
  if (typeof raw.errorCode === "string") conflict.errorCode = raw.errorCode;
  if (typeof raw.property === "string") conflict.property = raw.property;
  if (Array.isArray(raw.indexes)) conflict.indexes = raw.indexes.filter(Number.isInteger);
  return [conflict];
}

function errorReason(summary: ImportSummaryView): string {
  const digest = conflictDigest(summary.conflicts);
  // 2.43 summaries carry no description.
  const description = summary.description ?? "DHIS2 refused the import";
  return digest ? `${description}: ${digest}` : description;
}

/** `E7610 Data element not found …; E7612 …` – the first few, enough for an operator. */
function conflictDigest(conflicts: Dhis2Conflict[]): string {
  const parts = conflicts.slice(0, 5).map((
    c,
  ) => (c.errorCode ? `${c.errorCode} ${c.value}` : c.value));
  if (conflicts.length > 5) parts.push(`and ${conflicts.length - 5} more`);
  return parts.join("; ");
}

function hasErrorCode(body: unknown): boolean {
  return isRecord(body) && typeof body.errorCode === "string" && body.errorCode !== "";
}

function webMessageText(body: unknown): string | undefined {
  if (!isRecord(body) || typeof body.message !== "string") return undefined;
  return body.message.slice(0, 300);
}

/** One conflict, told in the gateway's own terms: which source codes caused it. */
export interface SourceConflict {
  errorCode?: string;
  message: string;
  object: string;
  property?: string;
  indexes: number[];
  /** Source codes of the values at `indexes`, de-duplicated, in index order. */
  codes: string[];
  /** Indexes outside the payload or without a known code. */
  unmappedIndexes: number[];
}

/**
 * Maps each conflict's `indexes` (0-based positions in the `dataValues` that were sent, §3.3)
 * back to the request's source codes: `codeByIndex[i]` is the source code that produced
 * `payloadDataValues[i]`. Data-set level conflicts have no indexes and map to no codes.
 */
export function mapConflictsToCodes(
  conflicts: readonly Dhis2Conflict[],
  payloadDataValues: readonly unknown[],
  codeByIndex: readonly string[],
): SourceConflict[] {
  return conflicts.map((c) => {
    const indexes = c.indexes ?? [];
    const codes: string[] = [];
    const unmappedIndexes: number[] = [];
    for (const i of indexes) {
      const code = i >= 0 && i < payloadDataValues.length ? codeByIndex[i] : undefined;
      if (!code) unmappedIndexes.push(i);
      else if (!codes.includes(code)) codes.push(code);
    }
    const mapped: SourceConflict = {
      message: c.value,
      object: c.object,
      indexes: [...indexes],
      codes,
      unmappedIndexes,
    };
    if (c.errorCode) mapped.errorCode = c.errorCode;
    if (c.property) mapped.property = c.property;
    return mapped;
  });
}
