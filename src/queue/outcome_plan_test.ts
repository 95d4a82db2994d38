import assert from "node:assert/strict";
import type { Dhis2Result } from "../dhis2/client.ts";
import { decideOutcome } from "../dhis2/outcome.ts";
import { credentialBackoff, type PlanContext, planOutcome } from "./outcome_plan.ts";

const NOW = new Date("2026-01-01T00:00:00Z");
const ctx = (over: Partial<PlanContext> = {}): PlanContext => ({
  budgetAttempt: 1,
  maxRetries: 3,
  backoff: { baseSeconds: 15, maxSeconds: 3600, jitter: 0.2 },
  credentialBackoff: credentialBackoff({ baseSeconds: 15, maxSeconds: 3600, jitter: 0.2 }),
  now: NOW,
  random: () => 0.5,
  dataValues: [{}, {}, {}],
  codes: ["A", "B", "C"],
  saveResponse: true,
  ...over,
});

function response(httpStatus: number, body: unknown): Dhis2Result {
  return { kind: "response", httpStatus, body, rawBody: JSON.stringify(body), durationMs: 5 };
}

function summary(status: string, counts: number[], conflicts: unknown[] = []) {
  const [imported, updated, ignored, deleted] = counts;
  return {
    httpStatus: status === "SUCCESS" ? "OK" : "Conflict",
    httpStatusCode: status === "SUCCESS" ? 200 : 409,
    status: status === "SUCCESS" ? "OK" : status,
    response: {
      responseType: "ImportSummary",
      status,
      importCount: { imported, updated, ignored, deleted },
      conflicts,
    },
  };
}

const plan = (r: Dhis2Result, c = ctx()) =>
  planOutcome(decideOutcome(r, { dataValues: [1, 2, 3] }), r, c);

Deno.test("delivered: counts kept, no error, no next run", () => {
  const r = response(200, summary("SUCCESS", [3, 0, 0, 0]));
  const p = plan(r);
  assert.equal(p.outcome, "delivered");
  assert.deepEqual(p.update.counts, { imported: 3, updated: 0, ignored: 0, deleted: 0 });
  assert.equal(p.update.status, "delivered");
  assert.equal(p.update.runAt, null);
  assert.equal(p.update.lastError, null);
  assert.equal((p.update.response as { status: string }).status, "OK");
  assert.equal(plan(r, ctx({ saveResponse: false })).update.response, null);
});

Deno.test("partial: conflicts carry the request codes found through their indexes", () => {
  const r = response(
    409,
    summary("WARNING", [1, 0, 2, 0], [
      { object: "x", value: "Data element not found", errorCode: "E7610", indexes: [1] },
      { object: "y", value: "Value must match", errorCode: "E7619", indexes: [2] },
    ]),
  );
  const p = plan(r);
  assert.equal(p.outcome, "partial");
  assert.deepEqual(p.conflictCodes, ["B", "C"]);
  assert.deepEqual(
    (p.update.conflicts as Array<{ codes: string[] }>).map((c) => c.codes),
    [["B"], ["C"]],
  );
  assert.match(p.update.lastError!, /^DHIS2 refused 2 of 3 value\(s\) \(codes B, C\): E7610/);
});

Deno.test("rejected: an aborted import is final", () => {
  const r = response(
    409,
    summary("ERROR", [0, 0, 0, 0], [
      { object: "ds", value: "Data set not found", errorCode: "E7600", property: "dataSet" },
    ]),
  );
  const p = plan(r);
  assert.equal(p.outcome, "rejected");
  assert.equal(p.update.status, "rejected");
  assert.equal(p.update.runAt, null);
  assert.match(p.update.lastError!, /E7600/);
});

Deno.test("retry: the schedule is nextRunAt of the budget attempt; out of budget is dead", () => {
  const busy = response(503, "busy");
  // random 0.5 → factor 1: 15 s, 30 s, 60 s.
  for (const [attempt, seconds] of [[1, 15], [2, 30], [3, 60]]) {
    const p = plan(busy, ctx({ budgetAttempt: attempt }));
    assert.equal(p.outcome, "retry");
    assert.equal(p.update.status, "retrying");
    assert.equal(p.update.runAt!.getTime() - NOW.getTime(), seconds * 1000);
  }
  const dead = plan(busy, ctx({ budgetAttempt: 4 }));
  assert.equal(dead.outcome, "dead");
  assert.equal(dead.update.status, "dead");
  assert.match(dead.update.lastError!, /^gave up after 4 attempt\(s\): DHIS2 answered HTTP 503/);
  const transport: Dhis2Result = {
    kind: "transport_error",
    error: "POST /dataValueSets timed out after 60000 ms",
    timedOut: true,
    durationMs: 60000,
  };
  const t = plan(transport);
  assert.equal(t.update.httpStatus, null);
  assert.equal(t.update.response, null);
  assert.match(t.update.lastError!, /timed out/);
});

Deno.test("credential problems wait at least 5 minutes, growing to an hour", () => {
  const p = plan(response(401, { httpStatusCode: 401, message: "Unauthorized" }));
  assert.equal(p.update.credentialProblem, true);
  assert.match(p.update.lastError!, /^destination credential problem: DHIS2 answered HTTP 401/);
  assert.equal(p.update.runAt!.getTime() - NOW.getTime(), 300_000);
  assert.deepEqual(credentialBackoff({ baseSeconds: 15, maxSeconds: 600 }), {
    baseSeconds: 300,
    maxSeconds: 3600,
    jitter: undefined,
  });
  assert.deepEqual(credentialBackoff({ baseSeconds: 900, maxSeconds: 7200, jitter: 0.1 }), {
    baseSeconds: 900,
    maxSeconds: 7200,
    jitter: 0.1,
  });
});

Deno.test("an import that failed inside DHIS2 is retried, then dead with DHIS2's text", () => {
  const failed = response(409, {
    ...summary("ERROR", [0, 0, 0, 0]),
    response: {
      ...summary("ERROR", [0, 0, 0, 0]).response,
      description: "The import process failed: ERROR: deadlock detected",
    },
  });
  const p = plan(failed, ctx({ budgetAttempt: 1 }));
  assert.equal(p.outcome, "retry");
  assert.equal(p.update.status, "retrying");
  assert.equal(p.update.lastError, "The import process failed: ERROR: deadlock detected");
  assert.equal(p.update.runAt!.getTime() - NOW.getTime(), 15_000);
  assert.deepEqual([p.update.httpStatus, p.update.dhis2Status], [409, "ERROR"]);
  const dead = plan(failed, ctx({ budgetAttempt: 4 }));
  assert.equal(dead.outcome, "dead");
  assert.equal(dead.update.status, "dead");
  assert.equal(dead.update.runAt, null);
  assert.equal(
    dead.update.lastError,
    "gave up after 4 attempt(s): The import process failed: ERROR: deadlock detected",
  );
});
