import assert from "node:assert/strict";
import { bundleHash, isIsoDate, normaliseBundle, objectsOf } from "./bundle.ts";

const TE = "nEenWmSyUEp";
const OU = "DiszpKrYNg8";
const PROGRAM = "IpHINAT79UW";
const STAGE = "A03MvHHogjR";

function counter() {
  let n = 0;
  return () => `Gen${String(++n).padStart(8, "0")}`;
}

Deno.test("a nested payload is flattened; missing UIDs are generated and parents filled in", () => {
  const r = normaliseBundle({
    trackedEntities: [{
      trackedEntityType: TE,
      orgUnit: OU,
      attributes: [{ attribute: "w75KJ2mc4zz", value: "Jane" }],
      enrollments: [{
        program: PROGRAM,
        orgUnit: OU,
        enrolledAt: "2024-03-01",
        events: [
          { programStage: STAGE, orgUnit: OU, occurredAt: "2024-03-01", status: "COMPLETED" },
          { event: "evGiven0001", programStage: STAGE, orgUnit: OU, occurredAt: "2024-03-02" },
        ],
      }],
    }],
  }, counter());
  assert.ok(r.ok);
  assert.deepEqual(r.bundle.trackedEntities, [{
    trackedEntityType: TE,
    orgUnit: OU,
    attributes: [{ attribute: "w75KJ2mc4zz", value: "Jane" }],
    trackedEntity: "Gen00000001",
  }]);
  assert.deepEqual(r.bundle.enrollments, [{
    program: PROGRAM,
    orgUnit: OU,
    enrolledAt: "2024-03-01",
    enrollment: "Gen00000002",
    trackedEntity: "Gen00000001",
  }]);
  assert.deepEqual(r.bundle.events.map((e) => [e.event, e.enrollment, e.program]), [
    ["Gen00000003", "Gen00000002", PROGRAM],
    ["evGiven0001", "Gen00000002", PROGRAM],
  ]);
  assert.deepEqual(
    r.objects.map((o) => [o.type, o.uid, o.path, o.generated, o.trackedEntity]),
    [
      ["TRACKED_ENTITY", "Gen00000001", "$.trackedEntities[0]", true, "Gen00000001"],
      [
        "ENROLLMENT",
        "Gen00000002",
        "$.trackedEntities[0].enrollments[0]",
        true,
        "Gen00000001",
      ],
      [
        "EVENT",
        "Gen00000003",
        "$.trackedEntities[0].enrollments[0].events[0]",
        true,
        "Gen00000001",
      ],
      [
        "EVENT",
        "evGiven0001",
        "$.trackedEntities[0].enrollments[0].events[1]",
        false,
        "Gen00000001",
      ],
    ],
  );
  // The stored order and paths give the same objects back.
  assert.deepEqual(
    objectsOf(r.bundle, r.objects.map((o) => o.path)).map((o) => [o.type, o.uid, o.path]),
    r.objects.map((o) => [o.type, o.uid, o.path]),
  );
});

Deno.test("every bad field is named by its JSON path", () => {
  const r = normaliseBundle({
    trackedEntities: [{ trackedEntity: "bad-uid", orgUnit: OU }],
    enrollments: [{
      enrollment: "enAAAAAAAA1",
      trackedEntity: "teAAAAAAAA1",
      program: PROGRAM,
      orgUnit: OU,
      enrolledAt: "2024-02-30",
      status: "DONE",
    }],
    events: [
      { event: "evAAAAAAAA1", programStage: STAGE, orgUnit: OU, status: "COMPLETED" },
      { event: "evAAAAAAAA1", programStage: STAGE, orgUnit: OU, occurredAt: "2024-01-01" },
      {
        program: "eBAyeGv0exc",
        orgUnit: OU,
        occurredAt: "yesterday",
        dataValues: [{ dataElement: "qrur9Dvnyt5", value: { x: 1 } }],
      },
    ],
  }, counter());
  assert.ok(!r.ok);
  assert.deepEqual(r.problems.map((p) => p.field), [
    "$.trackedEntities[0].trackedEntity",
    "$.trackedEntities[0].trackedEntityType",
    "$.enrollments[0].enrolledAt",
    "$.enrollments[0].status",
    "$.events[0].occurredAt",
    "$.events[1].event",
    "$.events[2].occurredAt",
    "$.events[2].dataValues[0].value",
  ]);
  assert.match(r.problems[5].message, /duplicate UID evAAAAAAAA1 \(also at \$\.events\[0\]\)/);
});

Deno.test("an empty or non-object payload is refused", () => {
  const empty = normaliseBundle({});
  assert.ok(!empty.ok && empty.problems[0].field === "$");
  const list = normaliseBundle([]);
  assert.ok(!list.ok && list.problems[0].message === "must be a JSON object");
  const notArray = normaliseBundle({ events: {} });
  assert.ok(!notArray.ok && notArray.problems[0].field === "$.events");
});

Deno.test("ISO dates: real days and times only", () => {
  for (
    const ok of [
      "2024-02-29",
      "2024-01-31T10:00",
      "2024-01-31T23:59:59.123Z",
      "2024-01-31T10:00:00+02:00",
    ]
  ) {
    assert.ok(isIsoDate(ok), ok);
  }
  for (
    const bad of [
      "2023-02-29",
      "2024-13-01",
      "2024-1-1",
      "2024-01-01T24:00",
      "01/02/2024",
      20240101,
    ]
  ) {
    assert.ok(!isIsoDate(bad), String(bad));
  }
});

Deno.test("the request hash ignores key order", () => {
  assert.equal(
    bundleHash("t", { a: 1, b: [{ c: 1, d: 2 }] }),
    bundleHash("t", { b: [{ d: 2, c: 1 }], a: 1 }),
  );
  assert.notEqual(bundleHash("t", { a: 1 }), bundleHash("t", { a: 2 }));
});
