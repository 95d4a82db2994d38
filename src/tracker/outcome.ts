/**
 * From DHIS2's reply to `POST /api/tracker` (or a job's report) to the queue's outcome, per
 * object (reference §4.4): each refused object is kept with its UID, type, error code, message
 * and its path in the caller's request. Two facts need DHIS2 or the database, so the kind finds
 * them first and passes them in: which E1083-refused events the read-back shows already landed
 * (a resend of a completed event: delivered, §4.5), and which objects refer to something an
 * earlier, still undelivered submission creates ("not found" then means "not yet": retry).
 */
import type { Dhis2Result } from "../dhis2/client.ts";
import { decideOutcome } from "../dhis2/outcome.ts";
import type { ImportCounts, Outcome, OutcomeFacts } from "../queue/kind.ts";
import type { TrackerObject } from "./bundle.ts";

export interface ObjectFailure {
  type: string;
  uid: string;
  errorCode: string;
  message: string;
  /** Where the object was in the request as received; null when DHIS2 named no known object. */
  path: string | null;
}

export interface ImportReportView {
  status: string;
  counts: ImportCounts | null;
  failures: ObjectFailure[];
  /** Objects DHIS2 committed (created or updated), when the report says (bundleReport). */
  committed: number;
}

/** "Not found" codes for a referenced tracked entity or enrollment (ValidationCode). */
export const MISSING_REFERENCE = new Set(["E1063", "E1068", "E1081", "E4012"]);
/** "Could not be persisted because X referenced by it could not": follows another failure. */
const CASCADE = "E5000";
export const COMPLETED_EVENT = "E1083";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The ImportReport in a sync reply or a job report, or null when the body is not one. */
export function readImportReport(
  body: unknown,
  objects: readonly TrackerObject[],
): ImportReportView | null {
  if (!isRecord(body) || typeof body.status !== "string" || !isRecord(body.stats)) return null;
  if (!("validationReport" in body) && !("bundleReport" in body)) return null;
  const stats = body.stats as Record<string, unknown>;
  const n = (k: string) => typeof stats[k] === "number" ? stats[k] as number : 0;
  const pathOf = new Map(objects.map((o) => [`${o.type}:${o.uid}`, o.path]));
  const errors =
    isRecord(body.validationReport) && Array.isArray(body.validationReport.errorReports)
      ? body.validationReport.errorReports as unknown[]
      : [];
  const failures = errors.filter(isRecord).map((e) => {
    const type = String(e.trackerType ?? "");
    const uid = String(e.uid ?? "");
    return {
      type,
      uid,
      errorCode: String(e.errorCode ?? ""),
      message: String(e.message ?? ""),
      path: pathOf.get(`${type}:${uid}`) ?? null,
    };
  });
  return {
    status: body.status,
    counts: {
      imported: n("created"),
      updated: n("updated"),
      ignored: n("ignored"),
      deleted: n("deleted"),
    },
    failures,
    committed: n("created") + n("updated"),
  };
}

export interface Resolved {
  /** E1083-refused events whose read-back matches what was sent. */
  landed: ReadonlySet<string>;
  /** Objects whose tracked entity or enrollment an earlier undelivered submission creates. */
  waiting: ReadonlySet<string>;
}

type Final = Exclude<Outcome, { kind: "snooze" }>;

/** A reply that carries no ImportReport: transport, credentials, server errors (as aggregate). */
export function nonReportOutcome(result: Dhis2Result, saveResponse: boolean): Final {
  const o = decideOutcome(result);
  const facts: OutcomeFacts = {
    httpStatus: o.httpStatus ?? (result.kind === "response" ? result.httpStatus : null),
    remoteStatus: null,
    counts: null,
    conflicts: null,
    response: saveResponse && result.kind === "response" ? result.body ?? result.rawBody : null,
  };
  if (o.kind === "retry") {
    return {
      kind: "retry",
      facts,
      error: o.reason,
      credentialProblem: o.credentialProblem === true,
    };
  }
  if (o.kind === "rejected") return { kind: "rejected", facts, error: o.reason, refusedCodes: [] };
  // A 2xx with no ImportReport says nothing landed: sending again is an update, so harmless.
  return {
    kind: "retry",
    facts,
    error: `DHIS2 answered HTTP ${facts.httpStatus} without an import report`,
    credentialProblem: false,
  };
}

/** The verdict on an ImportReport, given what the kind found out (see the header). */
export function reportOutcome(
  report: ImportReportView,
  facts: Omit<OutcomeFacts, "counts" | "conflicts" | "remoteStatus">,
  objects: readonly TrackerObject[],
  resolved: Resolved,
): Final {
  const base: OutcomeFacts = {
    ...facts,
    remoteStatus: report.status,
    counts: report.counts,
    conflicts: null,
  };
  const real = report.failures.filter((f) =>
    !(f.errorCode === COMPLETED_EVENT && resolved.landed.has(f.uid))
  );
  // A cascade failure is explained by the failure it points at; alone it is not one.
  const causes = real.filter((f) => f.errorCode !== CASCADE);
  if (report.status !== "ERROR" || causes.length === 0 && real.length === 0) {
    return {
      kind: "delivered",
      facts: { ...base, conflicts: report.failures.length ? report.failures : null },
    };
  }
  if (causes.length === 0) {
    return { kind: "delivered", facts: { ...base, conflicts: report.failures } };
  }
  const notYet = causes.filter((f) =>
    MISSING_REFERENCE.has(f.errorCode) && resolved.waiting.has(f.uid)
  );
  if (notYet.length === causes.length) {
    return {
      kind: "retry",
      facts: { ...base, conflicts: real },
      error:
        `waiting for an earlier submission to create what ${notYet.length} object(s) refer to: ` +
        digest(notYet),
      credentialProblem: false,
    };
  }
  const refused = unique(real.map((f) => f.path ?? `${f.type}:${f.uid}`));
  const conflicts = real;
  if (report.committed > 0) {
    return {
      kind: "partial",
      facts: { ...base, conflicts },
      refusedCodes: refused,
      error: `DHIS2 refused ${unique(real.map((f) => f.uid)).length} of ${objects.length} ` +
        `object(s): ${digest(causes)}`,
    };
  }
  return {
    kind: "rejected",
    facts: { ...base, conflicts },
    refusedCodes: refused,
    error: `DHIS2 refused the tracker payload: ${digest(causes)}`,
  };
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

/**
 * The error line: codes, types, UIDs and paths only. DHIS2's messages can quote a value (E1064
 * "Non-unique attribute value", E1125), and this line reaches the log: they stay in `conflicts`.
 */
function digest(failures: ObjectFailure[]): string {
  const shown = failures.slice(0, 5).map((f) =>
    `${f.errorCode} ${f.type} ${f.uid}${f.path ? ` at ${f.path}` : ""}`
  );
  const more = failures.length > 5 ? `; and ${failures.length - 5} more` : "";
  return (shown.join("; ") + more).slice(0, 2000);
}
