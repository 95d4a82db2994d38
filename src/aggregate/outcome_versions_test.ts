/**
 * Import summary shapes that differ by DHIS2 version (reference §12): 2.43's pipeline
 * (WARNING on 200, `imported` always 0, conflicts with `object: null` and `objects: {args}`,
 * index -1 for an undecodable payload) and summaries without `rejectedIndexes` (2.38.x,
 * 2.39.0–2.39.1, 2.40.0). Request codes A, B, C are behind the three values sent.
 */
import assert from "node:assert/strict";
import type { Dhis2Result } from "../dhis2/client.ts";
import { aggregateOutcome } from "./outcome.ts";

const PAYLOAD = {
  dataSet: "ds",
  period: "202401",
  orgUnit: "ou",
  dataValues: [{ dataElement: "a" }, { dataElement: "b" }, { dataElement: "c" }],
};
const CODES = ["A", "B", "C"];

function response(httpStatus: number, body: unknown): Dhis2Result {
  return { kind: "response", httpStatus, body, rawBody: JSON.stringify(body), durationMs: 5 };
}

/** `DataEntrySummary.toImportSummary` in its WebMessage, written by hand from 2.43.0. */
function v243(httpStatusCode: number, status: string, counts: number[], conflicts: unknown[]) {
  const [imported, updated, ignored, deleted] = counts;
  return response(httpStatusCode, {
    httpStatus: httpStatusCode === 200 ? "OK" : "Conflict",
    httpStatusCode,
    status,
    message: status === "WARNING"
      ? "Import completed with warnings, please check import summary."
      : "An error occurred, please check import summary.",
    response: {
      responseType: "ImportSummary",
      status,
      importOptions: { idSchemes: {}, dryRun: false },
      importCount: { imported, updated, ignored, deleted },
      conflicts,
      rejectedIndexes: conflicts.flatMap((c) => (c as { indexes: number[] }).indexes)
        .filter((i) => i >= 0),
    },
  });
}

const notNumeric = (args: string, indexes: number[]) => ({
  object: null,
  objects: { args },
  value: `Value must be numeric: ${args}`,
  errorCode: "E8122",
  property: "value",
  indexes,
});

Deno.test("2.43 WARNING on 200: partial, counts as DHIS2 gave them, object from objects.args", () => {
  const o = aggregateOutcome(
    v243(200, "WARNING", [0, 2, 1, 0], [notNumeric("abc", [1])]),
    PAYLOAD,
    CODES,
    false,
  );
  assert.equal(o.kind, "partial");
  if (o.kind !== "partial") return;
  assert.equal(o.facts.httpStatus, 200);
  assert.equal(o.facts.remoteStatus, "WARNING");
  assert.deepEqual(o.facts.counts, { imported: 0, updated: 2, ignored: 1, deleted: 0 });
  assert.deepEqual(o.refusedCodes, ["B"]);
  assert.deepEqual(o.facts.conflicts, [{
    message: "Value must be numeric: abc",
    object: "abc",
    indexes: [1],
    codes: ["B"],
    unmappedIndexes: [],
    errorCode: "E8122",
    property: "value",
  }]);
  assert.equal(
    o.error,
    "DHIS2 refused 1 of 3 value(s) (codes B): E8122 Value must be numeric: abc",
  );
});

Deno.test("2.43 ERROR when every value fails: rejected, every code named", () => {
  const o = aggregateOutcome(
    v243(409, "ERROR", [0, 0, 3, 0], [notNumeric("x, y, z", [0, 1, 2])]),
    PAYLOAD,
    CODES,
    false,
  );
  assert.equal(o.kind, "rejected");
  if (o.kind !== "rejected") return;
  assert.deepEqual(o.refusedCodes, ["A", "B", "C"]);
  assert.equal((o.facts.conflicts as Array<{ object: string }>)[0].object, "x, y, z");
  assert.equal(o.error, "DHIS2 refused the import: E8122 Value must be numeric: x, y, z");
});

Deno.test("2.43 undecodable payload (index -1) is final even when values are counted ignored", () => {
  const decode = {
    object: null,
    objects: { args: "ds1, ds2" },
    value: "Multiple data sets",
    errorCode: "E8002",
    indexes: [-1],
  };
  const o = aggregateOutcome(v243(409, "ERROR", [0, 0, 3, 0], [decode]), PAYLOAD, CODES, false);
  assert.equal(o.kind, "rejected");
  if (o.kind !== "rejected") return;
  assert.equal(o.error, "DHIS2 refused the import: E8002 Multiple data sets");
  assert.deepEqual(o.facts.conflicts, [{
    message: "Multiple data sets",
    object: "ds1, ds2",
    indexes: [-1],
    codes: [],
    unmappedIndexes: [-1],
    errorCode: "E8002",
  }]);
});

Deno.test("without rejectedIndexes (2.38.x, 2.39.0–2.39.1, 2.40.0) the conflicts' indexes count", () => {
  const body = {
    httpStatus: "Conflict",
    httpStatusCode: 409,
    status: "WARNING",
    message: "One more conflicts encountered, please check import summary.",
    response: {
      responseType: "ImportSummary",
      status: "WARNING",
      description: "Import process completed successfully",
      importCount: { imported: 1, updated: 0, ignored: 2, deleted: 0 },
      conflicts: [{
        object: "NOPE",
        objects: { dataElement: "NOPE" },
        value: "Data element not found or not accessible: `NOPE`",
        errorCode: "E7610",
        property: "dataElement",
        indexes: [0, 2],
      }],
    },
  };
  const o = aggregateOutcome(response(409, body), PAYLOAD, CODES, false);
  assert.equal(o.kind, "partial");
  if (o.kind !== "partial") return;
  assert.deepEqual(o.refusedCodes, ["A", "C"]);
  assert.deepEqual(o.facts.counts, { imported: 1, updated: 0, ignored: 2, deleted: 0 });
  assert.match(o.error, /^DHIS2 refused 2 of 3 value\(s\) \(codes A, C\): E7610/);
});
