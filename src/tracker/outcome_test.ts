import assert from "node:assert/strict";
import type { Dhis2Result } from "../dhis2/client.ts";
import type { TrackerObject } from "./bundle.ts";
import { nonReportOutcome, readImportReport, reportOutcome } from "./outcome.ts";

const objects: TrackerObject[] = [
  {
    type: "TRACKED_ENTITY",
    uid: "teAAAAAAAA1",
    path: "$.trackedEntities[0]",
    generated: false,
    trackedEntity: "teAAAAAAAA1",
    enrollment: null,
  },
  {
    type: "EVENT",
    uid: "evAAAAAAAA1",
    path: "$.events[0]",
    generated: true,
    trackedEntity: null,
    enrollment: "enAAAAAAAA1",
  },
];

const report = (errors: Array<[string, string, string]>, stats: Record<string, number>) => ({
  status: errors.length ? "ERROR" : "OK",
  validationReport: {
    errorReports: errors.map(([errorCode, trackerType, uid]) => ({
      errorCode,
      trackerType,
      uid,
      message: `${errorCode} for ${uid}`,
    })),
    warningReports: [],
  },
  stats: { created: 0, updated: 0, deleted: 0, ignored: 0, total: 2, ...stats },
});

const none = { landed: new Set<string>(), waiting: new Set<string>() };
const facts = { httpStatus: 409, response: null };

function decide(body: unknown, resolved = none) {
  const r = readImportReport(body, objects);
  assert.ok(r);
  return reportOutcome(r, facts, objects, resolved);
}

Deno.test("OK report: delivered with DHIS2's counts", () => {
  const o = decide(report([], { created: 2 }));
  assert.equal(o.kind, "delivered");
  assert.deepEqual(o.facts.counts, { imported: 2, updated: 0, ignored: 0, deleted: 0 });
});

Deno.test("ERROR with nothing committed: rejected, each failure with its request path", () => {
  const o = decide(report([["E1013", "EVENT", "evAAAAAAAA1"]], { ignored: 2 }));
  assert.equal(o.kind, "rejected");
  assert.deepEqual(o.facts.conflicts, [{
    type: "EVENT",
    uid: "evAAAAAAAA1",
    errorCode: "E1013",
    message: "E1013 for evAAAAAAAA1",
    path: "$.events[0]",
  }]);
  assert.ok(o.kind === "rejected" && o.refusedCodes[0] === "$.events[0]");
  // The error line names code, type, UID and path, never DHIS2's message (it may quote values).
  assert.ok(o.kind === "rejected" && !o.error.includes("for evAAAAAAAA1"));
});

Deno.test("ERROR with some committed (atomicMode=OBJECT): partial", () => {
  const o = decide(report([["E1302", "EVENT", "evAAAAAAAA1"]], { created: 1, ignored: 1 }));
  assert.equal(o.kind, "partial");
});

Deno.test("E1083 on an event whose read-back matches: delivered", () => {
  const body = report([["E1083", "EVENT", "evAAAAAAAA1"]], { ignored: 2 });
  assert.equal(decide(body).kind, "rejected");
  const landed = decide(body, { landed: new Set(["evAAAAAAAA1"]), waiting: new Set() });
  assert.equal(landed.kind, "delivered");
});

Deno.test("a missing reference an earlier pending submission creates: retry, else rejected", () => {
  const body = report([["E1081", "EVENT", "evAAAAAAAA1"]], { ignored: 2 });
  assert.equal(decide(body).kind, "rejected");
  const o = decide(body, { landed: new Set(), waiting: new Set(["evAAAAAAAA1"]) });
  assert.equal(o.kind, "retry");
});

Deno.test("a cascade failure alone follows the real one (E5000 not counted as a cause)", () => {
  const body = report([
    ["E1083", "EVENT", "evAAAAAAAA1"],
    ["E5000", "TRACKED_ENTITY", "teAAAAAAAA1"],
  ], { ignored: 2 });
  const o = decide(body, { landed: new Set(["evAAAAAAAA1"]), waiting: new Set() });
  assert.equal(o.kind, "delivered");
});

Deno.test("no ImportReport: 503 and timeouts retry, 401 is a credential problem, 400 rejected", () => {
  const res = (httpStatus: number, body: unknown): Dhis2Result => ({
    kind: "response",
    httpStatus,
    body,
    rawBody: JSON.stringify(body),
    durationMs: 1,
  });
  assert.equal(nonReportOutcome(res(503, "busy"), false).kind, "retry");
  const cred = nonReportOutcome(res(401, { message: "Unauthorized" }), false);
  assert.ok(cred.kind === "retry" && cred.credentialProblem);
  assert.equal(nonReportOutcome(res(400, { message: "JSON parse error" }), false).kind, "rejected");
  const timeout = nonReportOutcome(
    { kind: "transport_error", error: "timed out", timedOut: true, durationMs: 1 },
    false,
  );
  assert.equal(timeout.kind, "retry");
  assert.equal(readImportReport({ httpStatus: "OK", status: "OK" }, objects), null);
});
