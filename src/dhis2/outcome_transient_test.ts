/**
 * Issue 10, item 2, per DHIS2 version: which replies to a failed import are retried and which
 * are final. The transient bodies come from the simulator's `transientImportFailure`, so the
 * tests and the chaos suite inject exactly what is classified here. Sources: the header of
 * outcome.ts and simulator_faults.ts.
 */
import assert from "node:assert/strict";
import type { Dhis2Result } from "./client.ts";
import { decideOutcome, type DeliveryOutcome } from "./outcome.ts";
import type { Fault } from "../simulator/simulator.ts";
import {
  DEADLOCK_MESSAGE,
  type FailureVersion,
  transientImportFailure,
} from "../simulator/simulator_faults.ts";

const REQUEST = { dataValues: [{ value: "1" }, { value: "2" }, { value: "3" }] };
const ZERO = { imported: 0, updated: 0, ignored: 0, deleted: 0 };

function response(httpStatus: number, body: unknown): Dhis2Result {
  return { kind: "response", httpStatus, body, rawBody: JSON.stringify(body), durationMs: 5 };
}

/** What the simulator would answer with `fault` to a POST of REQUEST. */
function reply(fault: Fault): Dhis2Result {
  const body = typeof fault.body === "function" ? fault.body(REQUEST) : fault.body;
  return response(fault.status!, body);
}

/** A 2.38–2.42 ERROR summary in its WebMessage (§3.4); `rejectedIndexes` from 2.39.2 on. */
function error42(version: FailureVersion, description: string, conflicts: unknown[] = []) {
  const summary: Record<string, unknown> = {
    responseType: "ImportSummary",
    status: "ERROR",
    description,
    importCount: ZERO,
    conflicts,
  };
  if (version !== "2.38") summary.rejectedIndexes = [];
  return response(409, {
    httpStatus: "Conflict",
    httpStatusCode: 409,
    status: "ERROR",
    message: "An error occurred, please check import summary.",
    response: summary,
  });
}

/**
 * A 2.43 summary (`DataEntrySummary.toImportSummary`): no description, `imported` always 0,
 * conflicts with `objects: {args}` and no `object`; WARNING is 200 from 2.43 (§12).
 */
function summary43(status: string, counts: Partial<typeof ZERO>, conflicts: unknown[] = []) {
  const rejectedIndexes = conflicts.flatMap((c) => (c as { indexes: number[] }).indexes)
    .filter((i) => i >= 0);
  return response(status === "ERROR" ? 409 : 200, {
    httpStatus: status === "ERROR" ? "Conflict" : "OK",
    httpStatusCode: status === "ERROR" ? 409 : 200,
    status: status === "SUCCESS" ? "OK" : status,
    message: "(not read by the gateway)",
    response: {
      responseType: "ImportSummary",
      status,
      importOptions: { idSchemes: {}, dryRun: false, importStrategy: "CREATE_AND_UPDATE" },
      importCount: { ...ZERO, ...counts },
      conflicts,
      rejectedIndexes,
    },
  });
}

/** A 2.43 conflict (message texts illustrative; the gateway keys on structure and codes). */
const c43 = (errorCode: string, value: string, indexes: number[]) => ({
  objects: { args: "x" },
  value,
  errorCode,
  indexes,
});

const E7600 = {
  object: "aaaaaaaaaaa",
  objects: { dataSet: "aaaaaaaaaaa" },
  value: "Data set not found or not accessible: `aaaaaaaaaaa`",
  errorCode: "E7600",
  property: "dataSet",
};

const failed = `The import process failed: ${DEADLOCK_MESSAGE}`;
const unreadable = "The import process failed: No content to map due to end-of-input";

type Case = [string, Dhis2Result, DeliveryOutcome];

const legacyVersions: FailureVersion[] = ["2.38", "2.39", "2.40", "2.41", "2.42"];
const legacy: Case[] = legacyVersions.flatMap((v): Case[] => [
  [`${v}: import process failed (database): retry`, reply(transientImportFailure(v)), {
    kind: "retry",
    httpStatus: 409,
    dhis2Status: "ERROR",
    counts: ZERO,
    reason: failed,
  }],
  // Same shape, permanent cause: retried like the rest, dead after the budget (documented).
  [`${v}: import process failed (unreadable body): retry`, error42(v, unreadable), {
    kind: "retry",
    httpStatus: 409,
    dhis2Status: "ERROR",
    counts: ZERO,
    reason: unreadable,
  }],
  [
    `${v}: ERROR with E7600 conflicts: rejected`,
    error42(v, "Import process was aborted", [E7600]),
    {
      kind: "rejected",
      httpStatus: 409,
      dhis2Status: "ERROR",
      counts: ZERO,
      conflicts: [E7600],
      reason:
        "Import process was aborted: E7600 Data set not found or not accessible: `aaaaaaaaaaa`",
    },
  ],
]);

const v243: Case[] = [
  ["2.43: failed commit, 500 WebMessage: retry", reply(transientImportFailure("2.43")), {
    kind: "retry",
    httpStatus: 500,
    reason: `DHIS2 answered HTTP 500: ${DEADLOCK_MESSAGE}`,
  }],
  [
    "2.43: PersistenceException, 409 WebMessage without errorCode: retry",
    reply(transientImportFailure("2.43", { shape: "persistence" })),
    { kind: "retry", httpStatus: 409, reason: `DHIS2 answered HTTP 409: ${DEADLOCK_MESSAGE}` },
  ],
  [
    "2.43: swallowed write, SUCCESS with every value ignored: retry",
    reply(transientImportFailure("2.43", { shape: "swallowed" })),
    {
      kind: "retry",
      httpStatus: 200,
      dhis2Status: "SUCCESS",
      counts: { ...ZERO, ignored: 3 },
      reason: "DHIS2 ignored 3 of 3 value(s) without a conflict: its write failed",
    },
  ],
  [
    "2.43: swallowed write after one invalid value (ERROR, 1 conflict, 3 ignored): retry",
    summary43("ERROR", { ignored: 3 }, [c43("E8122", "not numeric", [1])]),
    {
      kind: "retry",
      httpStatus: 409,
      dhis2Status: "ERROR",
      counts: { ...ZERO, ignored: 3 },
      reason: "DHIS2 ignored 2 of 3 value(s) without a conflict: its write failed",
    },
  ],
  [
    "2.43: every value invalid (ERROR with conflicts): rejected",
    summary43("ERROR", { ignored: 3 }, [c43("E8122", "not numeric", [0, 1, 2])]),
    {
      kind: "rejected",
      httpStatus: 409,
      dhis2Status: "ERROR",
      counts: { ...ZERO, ignored: 3 },
      conflicts: [{ object: "x", ...c43("E8122", "not numeric", [0, 1, 2]) }],
      reason: "DHIS2 refused the import: E8122 not numeric",
    },
  ],
  [
    "2.43: group-level ConflictException (every index, nothing counted): rejected",
    summary43("ERROR", {}, [c43("E8020", "not in data set", [0, 1, 2])]),
    {
      kind: "rejected",
      httpStatus: 409,
      dhis2Status: "ERROR",
      counts: ZERO,
      conflicts: [{ object: "x", ...c43("E8020", "not in data set", [0, 1, 2]) }],
      reason: "DHIS2 refused the import: E8020 not in data set",
    },
  ],
  [
    "2.43: decode failure (index -1, DataEntryPipeline.importData): rejected",
    summary43("ERROR", {}, [c43("E8002", "multiple data sets", [-1])]),
    {
      kind: "rejected",
      httpStatus: 409,
      dhis2Status: "ERROR",
      counts: ZERO,
      conflicts: [{ object: "x", ...c43("E8002", "multiple data sets", [-1]) }],
      reason: "DHIS2 refused the import: E8002 multiple data sets",
    },
  ],
  [
    "2.43: WARNING on 200, one value refused, two written: partial",
    summary43("WARNING", { updated: 2, ignored: 1 }, [c43("E8122", "not numeric", [2])]),
    {
      kind: "partial",
      httpStatus: 200,
      dhis2Status: "WARNING",
      counts: { ...ZERO, updated: 2, ignored: 1 },
      conflicts: [{ object: "x", ...c43("E8122", "not numeric", [2]) }],
      rejectedIndexes: [2],
    },
  ],
  ["2.43: SUCCESS, all written as updated: delivered", summary43("SUCCESS", { updated: 3 }), {
    kind: "delivered",
    httpStatus: 200,
    dhis2Status: "SUCCESS",
    counts: { ...ZERO, updated: 3 },
  }],
];

Deno.test("a failed import is retried, a refused one is final: 2.38–2.42", () => {
  for (const [name, result, expected] of legacy) {
    assert.deepEqual(decideOutcome(result, REQUEST), expected, name);
  }
});

Deno.test("a failed import is retried, a refused one is final: 2.43 pipeline", () => {
  for (const [name, result, expected] of v243) {
    assert.deepEqual(decideOutcome(result, REQUEST), expected, name);
  }
});

Deno.test("transientImportFailure answers with the documented body of each version", () => {
  for (const v of legacyVersions) {
    const fault = transientImportFailure(v, { times: 2 });
    const got = reply(fault) as { body: { response: Record<string, unknown> } };
    const { importOptions, ...rest } = got.body.response;
    assert.deepEqual(
      [fault.path, fault.method, fault.status, { ...got.body, response: rest }],
      ["/api/dataValueSets", "POST", 409, (error42(v, failed) as { body: unknown }).body],
      v,
    );
    assert.deepEqual(
      [(importOptions as Record<string, unknown>).importStrategy, Object.keys(rest)],
      [
        "CREATE_AND_UPDATE",
        ["responseType", "status", "description", "importCount", "conflicts"].concat(
          v === "2.38" ? [] : ["rejectedIndexes"],
        ),
      ],
    );
  }
  const r238 = reply(transientImportFailure("2.38")) as { body: { response: object } };
  assert.equal("rejectedIndexes" in r238.body.response, false, "absent in 2.38.x (§12)");
  assert.deepEqual(
    reply(transientImportFailure("2.43", { message: "boom" })),
    response(500, {
      httpStatus: "Internal Server Error",
      httpStatusCode: 500,
      status: "ERROR",
      message: "boom",
    }),
  );
});

Deno.test("up to 2.42 an unchanged re-send (ignored, no conflict) is still delivered", () => {
  const r = response(200, {
    httpStatus: "OK",
    httpStatusCode: 200,
    status: "OK",
    message: "Import was successful.",
    response: {
      responseType: "ImportSummary",
      status: "SUCCESS",
      description: "Import process completed successfully",
      importCount: { ...ZERO, ignored: 3 },
      conflicts: [],
      rejectedIndexes: [],
    },
  });
  assert.deepEqual(decideOutcome(r, REQUEST), {
    kind: "delivered",
    httpStatus: 200,
    dhis2Status: "SUCCESS",
    counts: { ...ZERO, ignored: 3 },
  });
});
