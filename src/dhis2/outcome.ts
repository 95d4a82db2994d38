/**
 * The one place that turns a DHIS2 reply to `POST /api/dataValueSets` into a delivery outcome.
 *
 * DHIS2 answers 200 and 409 alike with an import summary (409 for WARNING and ERROR in
 * 2.38–2.42, §3.4), wrapped in a WebMessage from 2.38 on and bare before that or on
 * `/api/37/…` paths (§0.3). So the decision is taken on the summary's status and counts,
 * never on the HTTP code alone.
 */
import { type Dhis2Result, isRecord } from "./client.ts";

export interface ImportCounts {
  imported: number;
  updated: number;
  ignored: number;
  deleted: number;
}

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
  if (summary.status === "ERROR") {
    // Aborted (data-set level check) or failed (unreadable body): the same payload fails again.
    return { kind: "rejected", reason: errorReason(summary), conflicts, ...facts };
  }
  const rejected = new Set(rejectedIndexes);
  for (const c of conflicts) for (const i of c.indexes ?? []) rejected.add(i);
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
  const conflict: Dhis2Conflict = {
    object: typeof raw.object === "string" ? raw.object : "",
    value: typeof raw.value === "string" ? raw.value : String(raw.value ?? ""),
  };
  if (isRecord(raw.objects)) {
    conflict.objects = Object.fromEntries(
      Object.entries(raw.objects).map(([k, v]) => [k, String(v)]),
    );
  }
  if (typeof raw.errorCode === "string") conflict.errorCode = raw.errorCode;
  if (typeof raw.property === "string") conflict.property = raw.property;
  if (Array.isArray(raw.indexes)) conflict.indexes = raw.indexes.filter(Number.isInteger);
  return [conflict];
}

function errorReason(summary: ImportSummaryView): string {
  const digest = conflictDigest(summary.conflicts);
  const description = summary.description ?? "import failed";
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
