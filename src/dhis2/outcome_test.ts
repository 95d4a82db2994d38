import assert from "node:assert/strict";
import type { Dhis2Result } from "./client.ts";
import {
  decideOutcome,
  type DeliveryOutcome,
  extractImportSummary,
  mapConflictsToCodes,
} from "./outcome.ts";
import {
  ABORTED,
  BAD_CHECKSUM,
  BAD_ENUM,
  BARE_SUCCESS,
  E7610_1,
  E7610_2,
  FAILED,
  FORBIDDEN,
  JSON_PARSE_409,
  OK_2_40,
  UNAUTHORIZED,
  WARNING_2_40,
} from "../../tests/fixtures/dhis2_replies.ts";

function response(httpStatus: number, body: unknown, location?: string): Dhis2Result {
  const rawBody = typeof body === "string" ? body : JSON.stringify(body);
  const result: Dhis2Result = {
    kind: "response",
    httpStatus,
    body: typeof body === "string" ? null : body,
    rawBody,
    durationMs: 5,
  };
  if (location) result.location = location;
  return result;
}

function warning(counts: Record<string, number>, conflicts: unknown[], rejected: number[]) {
  return {
    ...WARNING_2_40,
    response: {
      ...WARNING_2_40.response,
      importCount: { imported: 0, updated: 0, ignored: 0, deleted: 0, ...counts },
      conflicts,
      rejectedIndexes: rejected,
    },
  };
}

const cases: Array<[string, Dhis2Result, DeliveryOutcome, { dataValues: unknown[] }?]> = [
  ["§9.1 OK, wrapped", response(200, OK_2_40), {
    kind: "delivered",
    httpStatus: 200,
    dhis2Status: "SUCCESS",
    counts: { imported: 1, updated: 0, ignored: 0, deleted: 0 },
  }],
  ["§9.4 bare summary (pre-2.38 or /api/37)", response(200, BARE_SUCCESS), {
    kind: "delivered",
    httpStatus: 200,
    dhis2Status: "SUCCESS",
    counts: { imported: 0, updated: 431, ignored: 0, deleted: 0 },
  }],
  [
    "unchanged re-send: ignored without conflicts is still delivered",
    response(200, {
      ...OK_2_40,
      response: {
        ...OK_2_40.response,
        importCount: { imported: 0, updated: 1, ignored: 2, deleted: 0 },
      },
    }),
    {
      kind: "delivered",
      httpStatus: 200,
      dhis2Status: "SUCCESS",
      counts: { imported: 0, updated: 1, ignored: 2, deleted: 0 },
    },
  ],
  ["§9.2 WARNING on 409: partial", response(409, WARNING_2_40), {
    kind: "partial",
    httpStatus: 409,
    dhis2Status: "WARNING",
    counts: { imported: 1, updated: 0, ignored: 2, deleted: 0 },
    conflicts: [E7610_1, E7610_2],
    rejectedIndexes: [1, 2],
  }],
  ["WARNING, bare summary on 200 (/api/37): partial", response(200, WARNING_2_40.response), {
    kind: "partial",
    httpStatus: 200,
    dhis2Status: "WARNING",
    counts: { imported: 1, updated: 0, ignored: 2, deleted: 0 },
    conflicts: [E7610_1, E7610_2],
    rejectedIndexes: [1, 2],
  }],
  [
    "WARNING where every value has a conflict: rejected",
    response(409, warning({ ignored: 2 }, [E7610_1, { ...E7610_2, indexes: [0] }], [0, 1])),
    {
      kind: "rejected",
      httpStatus: 409,
      dhis2Status: "WARNING",
      counts: { imported: 0, updated: 0, ignored: 2, deleted: 0 },
      conflicts: [E7610_1, { ...E7610_2, indexes: [0] }],
      reason: "every data value was rejected: E7610 Data element not found or not accessible: " +
        "`INVALID_1`; E7610 Data element not found or not accessible: `INVALID_2`",
    },
  ],
  [
    "WARNING, nothing written, but one value was only unchanged: partial (request known)",
    response(409, warning({ ignored: 2 }, [E7610_1], [1])),
    {
      kind: "partial",
      httpStatus: 409,
      dhis2Status: "WARNING",
      counts: { imported: 0, updated: 0, ignored: 2, deleted: 0 },
      conflicts: [E7610_1],
      rejectedIndexes: [1],
    },
    { dataValues: [{}, {}] },
  ],
  [
    "WARNING, nothing written, unchanged value: partial (counts alone)",
    response(409, warning({ ignored: 2 }, [E7610_1], [1])),
    {
      kind: "partial",
      httpStatus: 409,
      dhis2Status: "WARNING",
      counts: { imported: 0, updated: 0, ignored: 2, deleted: 0 },
      conflicts: [E7610_1],
      rejectedIndexes: [1],
    },
  ],
  [
    "SUCCESS with strategy-rejected indexes (UPDATE of a new value): rejected",
    response(200, {
      ...OK_2_40,
      response: {
        ...OK_2_40.response,
        importCount: { imported: 0, updated: 0, ignored: 1, deleted: 0 },
        rejectedIndexes: [0],
      },
    }),
    {
      kind: "rejected",
      httpStatus: 200,
      dhis2Status: "SUCCESS",
      counts: { imported: 0, updated: 0, ignored: 1, deleted: 0 },
      conflicts: [],
      reason: "every data value was rejected: by import strategy",
    },
    { dataValues: [{}] },
  ],
  ["aborted import (E7600): rejected, not retried", response(409, ABORTED), {
    kind: "rejected",
    httpStatus: 409,
    dhis2Status: "ERROR",
    counts: { imported: 0, updated: 0, ignored: 0, deleted: 0 },
    conflicts: ABORTED.response.conflicts,
    reason: "Import process was aborted: E7600 Data set not found or not accessible: `xxxxxxxxxxx`",
  }],
  // The catch-all shape also covers this permanent fault: retried, dead after the budget
  // (outcome_transient_test.ts has the per-version table).
  ["failed import (unreadable body): retried like any failed import", response(409, FAILED), {
    kind: "retry",
    httpStatus: 409,
    dhis2Status: "ERROR",
    counts: { imported: 0, updated: 0, ignored: 0, deleted: 0 },
    reason: "The import process failed: No content to map due to end-of-input",
  }],
  ["401 bad credentials", response(401, UNAUTHORIZED), {
    kind: "retry",
    httpStatus: 401,
    credentialProblem: true,
    reason: "DHIS2 answered HTTP 401: Unauthorized",
  }],
  ["403 missing authority", response(403, FORBIDDEN), {
    kind: "retry",
    httpStatus: 403,
    credentialProblem: true,
    reason: "DHIS2 answered HTTP 403: Access is denied",
  }],
  ["400 PAT checksum (2.41+)", response(400, BAD_CHECKSUM), {
    kind: "retry",
    httpStatus: 400,
    credentialProblem: true,
    reason: "DHIS2 answered HTTP 400: Checksum validation failed",
  }],
  ["302 to the login page", response(302, "", "http://x/dhis-web-login/"), {
    kind: "retry",
    httpStatus: 302,
    credentialProblem: true,
    reason: "DHIS2 redirected to its login page (HTTP 302)",
  }],
  ["301 elsewhere: rejected", response(301, "", "https://x/api/dataValueSets"), {
    kind: "rejected",
    httpStatus: 301,
    reason: "DHIS2 answered with a redirect (HTTP 301); check the base URL",
  }],
  ["400 bad parameter", response(400, BAD_ENUM), {
    kind: "rejected",
    httpStatus: 400,
    reason: "DHIS2 answered HTTP 400: Value 'FOO' is not valid for parameter importStrategy.",
  }],
  [
    "409 WebMessage without a summary or errorCode: an escaped exception",
    response(
      409,
      JSON_PARSE_409,
    ),
    { kind: "retry", httpStatus: 409, reason: "DHIS2 answered HTTP 409: Unexpected character" },
  ],
  [
    "409 WebMessage with an errorCode: a coded conflict",
    response(409, {
      ...JSON_PARSE_409,
      errorCode: "E8002",
      message: "Data values belong to multiple data sets",
    }),
    {
      kind: "rejected",
      httpStatus: 409,
      reason: "DHIS2 answered HTTP 409: Data values belong to multiple data sets",
    },
  ],
  ["404", response(404, "<html>Not Found</html>"), {
    kind: "rejected",
    httpStatus: 404,
    reason: "DHIS2 answered HTTP 404",
  }],
  ["413 from the proxy", response(413, "<html>Request Entity Too Large</html>"), {
    kind: "rejected",
    httpStatus: 413,
    reason: "DHIS2 answered HTTP 413",
  }],
  ["415", response(415, { httpStatusCode: 415, status: "ERROR", message: "Content type" }), {
    kind: "rejected",
    httpStatus: 415,
    reason: "DHIS2 answered HTTP 415: Content type",
  }],
  ["408", response(408, ""), { kind: "retry", httpStatus: 408, reason: "DHIS2 answered HTTP 408" }],
  ["429", response(429, ""), { kind: "retry", httpStatus: 429, reason: "DHIS2 answered HTTP 429" }],
  ["500 WebMessage", response(500, { httpStatusCode: 500, status: "ERROR", message: "NPE" }), {
    kind: "retry",
    httpStatus: 500,
    reason: "DHIS2 answered HTTP 500: NPE",
  }],
  ["502 proxy HTML", response(502, "<html>Bad Gateway</html>"), {
    kind: "retry",
    httpStatus: 502,
    reason: "DHIS2 answered HTTP 502",
  }],
  ["503", response(503, ""), { kind: "retry", httpStatus: 503, reason: "DHIS2 answered HTTP 503" }],
  ["200 without a summary (login page HTML)", response(200, "<html>login</html>"), {
    kind: "retry",
    httpStatus: 200,
    reason: "DHIS2 answered HTTP 200 without an import summary",
  }],
  ["network error", {
    kind: "transport_error",
    error: "POST /dataValueSets failed: connection refused",
    timedOut: false,
    durationMs: 1,
  }, { kind: "retry", reason: "POST /dataValueSets failed: connection refused" }],
  ["timeout", {
    kind: "transport_error",
    error: "POST /dataValueSets timed out after 30000 ms",
    timedOut: true,
    durationMs: 30000,
  }, { kind: "retry", reason: "POST /dataValueSets timed out after 30000 ms" }],
];

Deno.test("decideOutcome maps every kind of DHIS2 reply to one outcome", () => {
  for (const [name, result, expected, request] of cases) {
    assert.deepEqual(decideOutcome(result, request), expected, name);
  }
});

Deno.test("extractImportSummary reads wrapped and bare summaries, and nothing else", () => {
  assert.equal(extractImportSummary(OK_2_40)?.wrapped, true);
  assert.equal(extractImportSummary(BARE_SUCCESS)?.wrapped, false);
  assert.equal(extractImportSummary(UNAUTHORIZED), null);
  assert.equal(extractImportSummary(null), null);
  assert.equal(extractImportSummary("text"), null);
  // An async job reply (§3.7) is not a summary.
  assert.equal(
    extractImportSummary({
      httpStatus: "OK",
      httpStatusCode: 200,
      status: "OK",
      message: "Initiated dataValueImport",
      response: { name: "dataValueImport", id: "YR1UxOUXmzT", jobType: "DATAVALUE_IMPORT" },
    }),
    null,
  );
  // Legacy informal conflicts keep object and value only.
  const legacy = extractImportSummary({
    status: "WARNING",
    importCount: { imported: 1 },
    conflicts: [{ object: "OrganisationUnit", value: "Must be provided to complete data set" }],
  });
  assert.deepEqual(legacy, {
    status: "WARNING",
    counts: { imported: 1, updated: 0, ignored: 0, deleted: 0 },
    conflicts: [{ object: "OrganisationUnit", value: "Must be provided to complete data set" }],
    rejectedIndexes: [],
    wrapped: false,
  });
});

Deno.test("mapConflictsToCodes names the source codes behind each conflict", () => {
  const payload = [{}, {}, {}, {}];
  const codes = ["ANC1", "BAD_DE", "BAD_DE", "MAL_MALE"];
  const merged = { ...E7610_1, indexes: [1, 2] }; // DHIS2 merges equal conflicts (§3.3)
  const period = {
    object: "2024W53",
    objects: { period: "2024W53" },
    value: "Period not valid: `2024W53`",
    errorCode: "E7611",
    property: "period",
    indexes: [3, 9],
  };
  const dataSetLevel = ABORTED.response.conflicts[0];
  assert.deepEqual(mapConflictsToCodes([merged, period, dataSetLevel], payload, codes), [
    {
      errorCode: "E7610",
      message: E7610_1.value,
      object: "INVALID_1",
      property: "dataElement",
      indexes: [1, 2],
      codes: ["BAD_DE"],
      unmappedIndexes: [],
    },
    {
      errorCode: "E7611",
      message: "Period not valid: `2024W53`",
      object: "2024W53",
      property: "period",
      indexes: [3, 9],
      codes: ["MAL_MALE"],
      unmappedIndexes: [9],
    },
    {
      errorCode: "E7600",
      message: dataSetLevel.value,
      object: "xxxxxxxxxxx",
      property: "dataSet",
      indexes: [],
      codes: [],
      unmappedIndexes: [],
    },
  ]);
});
