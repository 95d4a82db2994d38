/**
 * The coded forms: POST /api/v3/events (one or a batch) and POST /api/v3/trackedEntities,
 * resolved through tracker mappings scoped to program and stage, option values by code, org
 * units through `ou` mappings; unmapped codes are a 422 naming each field.
 */
import assert from "node:assert/strict";
import { createApp } from "../src/http/app.ts";
import { staticMappingLookup } from "../src/mappings/lookup.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { createTestApp, type TestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { AttemptLog } from "./support/submissions.ts";
import { postTracker, trackerWorker } from "./support/tracker.ts";

const MAPPINGS = [
  { kind: "program", code: "MALARIA_CASE", uid: "eBAyeGv0exc" },
  { kind: "stage", scope: "eBAyeGv0exc", code: "CASE", uid: "Zj7UnCAulEk" },
  { kind: "data_element", scope: "Zj7UnCAulEk", code: "AGE", uid: "qrur9Dvnyt5" },
  { kind: "data_element", scope: "Zj7UnCAulEk", code: "GENDER", uid: "oZg33kd9taw" },
  { kind: "option", scope: "oZg33kd9taw", code: "F", uid: "FEMALE" },
  { kind: "tracked_entity_type", code: "PERSON", uid: "nEenWmSyUEp" },
  { kind: "program", code: "CHILD", uid: "IpHINAT79UW" },
  { kind: "attribute", scope: "IpHINAT79UW", code: "FIRST_NAME", uid: "w75KJ2mc4zz" },
  { kind: "attribute", scope: "IpHINAT79UW", code: "SEX", uid: "cejWyOfXge6" },
  { kind: "option", scope: "cejWyOfXge6", code: "F", uid: "FEMALE" },
  { kind: "stage", scope: "IpHINAT79UW", code: "BIRTH", uid: "A03MvHHogjR" },
  { kind: "stage", scope: "IpHINAT79UW", code: "POSTNATAL", uid: "ZzYYXq4fJie" },
  { kind: "data_element", scope: "A03MvHHogjR", code: "WEIGHT", uid: "UXz7xuGCEhU" },
  { kind: "data_element", scope: "ZzYYXq4fJie", code: "WEIGHT", uid: "UXz7xuGCEhU" },
  { kind: "data_element", scope: "ZzYYXq4fJie", code: "FEEDING", uid: "X8zyunlgUfM" },
  { kind: "option", scope: "X8zyunlgUfM", code: "EBF", uid: "EXCLUSIVE" },
];

async function setUp(
  name: string,
): Promise<
  { t: TestApp; close: () => Promise<void> } & { db: Awaited<ReturnType<typeof createTestDb>> }
> {
  const db = await createTestDb(name);
  const t = await createTestApp(db);
  t.app = createApp({
    ...t.deps,
    mappings: staticMappingLookup({}, { default: { OU_559: "DiszpKrYNg8" } }),
  });
  const res = await t.app.request("/api/v3/tracker/mappings", {
    method: "PUT",
    headers: { "Content-Type": "application/json", ...t.users.admin.headers.token },
    body: JSON.stringify({ mappings: MAPPINGS }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual(await res.json(), { stored: MAPPINGS.length });
  return {
    t,
    db,
    close: async () => {
      await t.close();
      await db.close();
    },
  };
}

const event = (extra: Record<string, unknown> = {}) => ({
  program: "MALARIA_CASE",
  programStage: "CASE",
  orgUnit: "OU_559",
  occurredAt: "2024-05-01",
  dataValues: { AGE: 34, GENDER: "F" },
  ...extra,
});

dbTest(
  "a coded event is resolved: program, stage, org unit, data elements, option codes",
  async () => {
    const { t, db, close } = await setUp("tr_coded_event");
    try {
      const res = await postTracker(t, event(), { path: "/api/v3/events" });
      assert.equal(res.status, 200, await res.clone().text());
      const audit = await db.sql`select action from audit_log order by id`;
      assert.deepEqual(audit.map((r) => r.action), ["tracker_mappings.replace"]);
      const reply = await res.json();
      assert.deepEqual(reply.objects.map((o: { type: string; path: string }) => [o.type, o.path]), [
        ["EVENT", "$"],
      ]);
      const [row] = await db.sql`select payload from submissions where id = ${reply.submission_id}`;
      assert.deepEqual(row.payload.events, [{
        occurredAt: "2024-05-01",
        dataValues: [
          { value: "34", dataElement: "qrur9Dvnyt5" },
          { value: "FEMALE", dataElement: "oZg33kd9taw" },
        ],
        program: "eBAyeGv0exc",
        programStage: "Zj7UnCAulEk",
        orgUnit: "DiszpKrYNg8",
        event: reply.objects[0].uid,
      }]);
      const viewer = await t.app.request("/api/v3/tracker/mappings", {
        method: "PUT",
        headers: { "Content-Type": "application/json", ...t.users.viewer.headers.token },
        body: JSON.stringify({ mappings: MAPPINGS }),
      });
      assert.equal(viewer.status, 403);
    } finally {
      await close();
    }
  },
);

dbTest("a batch with unmapped codes is a 422 naming each one by its path", async () => {
  const { t, db, close } = await setUp("tr_coded_422");
  try {
    const res = await postTracker(t, [
      event(),
      event({ programStage: "NOPE", orgUnit: "OU_999" }),
      event({ dataValues: { AGE: 3, SHOE_SIZE: 40 }, occurredAt: "2024-13-01" }),
    ], { path: "/api/v3/events" });
    assert.equal(res.status, 422);
    const { error } = await res.json();
    assert.deepEqual(
      error.details.map((d: { field: string; code?: string }) => [d.field, d.code ?? null]),
      [
        ["$[1].orgUnit", "OU_999"],
        ["$[1].programStage", "NOPE"],
        ["$[2].dataValues.SHOE_SIZE", "SHOE_SIZE"],
      ],
    );
    const [{ n }] = await db.sql`select count(*)::int as n from submissions`;
    assert.equal(n, 0);
    // Mapped but a bad date: the DHIS2 checks name the caller's path too.
    const date = await postTracker(t, [event(), event({ occurredAt: "2024-13-01" })], {
      path: "/api/v3/events",
    });
    assert.equal(date.status, 422);
    assert.deepEqual((await date.json()).error.details.map((d: { field: string }) => d.field), [
      "$[1].occurredAt",
    ]);
  } finally {
    await close();
  }
});

dbTest("a person with enrollment and two events is delivered to DHIS2", async () => {
  const { t, db, close } = await setUp("tr_coded_person");
  const sim = await startSimulator();
  const events = new AttemptLog();
  const worker = trackerWorker(db.sql, sim, events);
  try {
    worker.start();
    const res = await postTracker(t, {
      trackedEntityType: "PERSON",
      orgUnit: "OU_559",
      attributes: { FIRST_NAME: "Jane", SEX: "F" },
      enrollment: {
        program: "CHILD",
        enrolledAt: "2024-03-01",
        events: [
          { programStage: "BIRTH", occurredAt: "2024-03-01", dataValues: { WEIGHT: 3200 } },
          { programStage: "POSTNATAL", occurredAt: "2024-03-15", dataValues: { FEEDING: "EBF" } },
        ],
      },
    }, { path: "/api/v3/trackedEntities" });
    assert.equal(res.status, 200, await res.clone().text());
    const reply = await res.json();
    assert.deepEqual(reply.objects.map((o: { path: string }) => o.path), [
      "$",
      "$.enrollment",
      "$.enrollment.events[0]",
      "$.enrollment.events[1]",
    ]);
    await events.until((e) =>
      e.some((x) => x.id === reply.submission_id && x.outcome === "delivered")
    );
    const [te, , , ev2] = reply.objects.map((o: { uid: string }) => o.uid);
    const stored = sim.tracker.store.trackedEntities.get(te)!;
    assert.deepEqual(stored.attributes, [
      { value: "Jane", attribute: "w75KJ2mc4zz" },
      { value: "FEMALE", attribute: "cejWyOfXge6" },
    ]);
    assert.deepEqual(sim.tracker.store.events.get(ev2)!.dataValues, [
      { value: "EXCLUSIVE", dataElement: "X8zyunlgUfM" },
    ]);
    assert.equal(sim.tracker.store.events.size, 2);
    // Intake is no admin action: the audit trail (kept forever) holds only the mappings' change.
    const audit = await db.sql`select action, target from audit_log order by id`;
    assert.deepEqual(audit.map((r) => r.action), ["tracker_mappings.replace"]);
  } finally {
    await worker.stop(5000);
    await sim.stop();
    await close();
  }
});
