/**
 * `?dryRun=true[&dhis2=true]` on POST /api/v3/tracker, /events and /trackedEntities: checked and
 * given UIDs as a submission would be, nothing stored; with dhis2=true the simulator is asked
 * with importMode=VALIDATE (sync) and stores nothing, and the reply is the outcome dhis2gw
 * would record, per object with its path in the caller's request.
 */
import assert from "node:assert/strict";
import { createApp } from "../src/http/app.ts";
import { staticMappingLookup } from "../src/mappings/lookup.ts";
import { DEFAULT_PASSWORD, DEFAULT_USERNAME, startSimulator } from "../src/simulator/simulator.ts";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { OU, person, postTracker } from "./support/tracker.ts";

// deno-lint-ignore no-explicit-any
type Loose = Record<string, any>;

const MAPPINGS = [
  { kind: "program", code: "MALARIA_CASE", uid: "eBAyeGv0exc" },
  { kind: "stage", scope: "eBAyeGv0exc", code: "CASE", uid: "Zj7UnCAulEk" },
  { kind: "data_element", scope: "Zj7UnCAulEk", code: "AGE", uid: "qrur9Dvnyt5" },
  { kind: "tracked_entity_type", code: "PERSON", uid: "nEenWmSyUEp" },
  { kind: "program", code: "CHILD", uid: "IpHINAT79UW" },
  { kind: "attribute", scope: "IpHINAT79UW", code: "FIRST_NAME", uid: "w75KJ2mc4zz" },
  { kind: "stage", scope: "IpHINAT79UW", code: "BIRTH", uid: "A03MvHHogjR" },
  { kind: "data_element", scope: "A03MvHHogjR", code: "WEIGHT", uid: "UXz7xuGCEhU" },
];
const coded = (extra: Loose = {}) => ({
  program: "MALARIA_CASE",
  programStage: "CASE",
  orgUnit: "OU_559",
  occurredAt: "2024-05-01",
  dataValues: { AGE: 34 },
  ...extra,
});

dbTest("tracker dryRun=true checks and maps as a submission and stores nothing", async () => {
  const db = await createTestDb("tracker_dry_run");
  const sim = await startSimulator();
  const t = await createTestApp(db, {
    env: {
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: DEFAULT_USERNAME,
      DHIS2GW_DHIS2_PASSWORD: DEFAULT_PASSWORD,
    },
  });
  t.app = createApp({
    ...t.deps,
    mappings: staticMappingLookup({}, { default: { OU_559: OU } }),
  });
  const stored = async () =>
    (await db.sql`select (select count(*) from submissions)::int as s,
      (select count(*) from deliveries)::int as d,
      (select count(*) from tracker_objects)::int as o`)[0];
  const simStore = () =>
    ["trackedEntities", "enrollments", "events", "relationships"].map((k) =>
      (sim.tracker.store as unknown as Record<string, Map<string, unknown>>)[k].size
    );
  const posts = () => sim.received.filter((r) => r.path === "/api/tracker");
  const nothing = { s: 0, d: 0, o: 0 };
  try {
    const maps = await t.app.request("/api/v3/tracker/mappings", {
      method: "PUT",
      headers: { "Content-Type": "application/json", ...t.users.admin.headers.token },
      body: JSON.stringify({ mappings: MAPPINGS }),
    });
    assert.equal(maps.status, 200, await maps.clone().text());

    // Valid: the objects and UIDs a submission gets, the flat bundle that would be sent.
    const res = await postTracker(t, person("Jane"), { path: "/api/v3/tracker?dryRun=true" });
    const dry = await res.json();
    assert.equal(res.status, 200, JSON.stringify(dry));
    assert.equal(dry.dry_run, true);
    assert.equal(dry.message, "Dry run: the tracker payload is valid; nothing was stored");
    assert.equal(dry.submission_id, undefined);
    assert.equal(dry.dhis2, undefined);
    assert.deepEqual(dry.objects.map((o: Loose) => [o.type, o.path, o.generated]), [
      ["TRACKED_ENTITY", "$.trackedEntities[0]", true],
      ["ENROLLMENT", "$.trackedEntities[0].enrollments[0]", true],
      ["EVENT", "$.trackedEntities[0].enrollments[0].events[0]", true],
    ]);
    const [te, en, ev] = dry.objects.map((o: Loose) => o.uid);
    assert.equal(dry.payload.trackedEntities[0].trackedEntity, te);
    assert.deepEqual([
      dry.payload.enrollments[0].enrollment,
      dry.payload.enrollments[0].trackedEntity,
    ], [en, te]);
    assert.deepEqual([dry.payload.events[0].event, dry.payload.events[0].enrollment], [ev, en]);
    assert.deepEqual(await stored(), nothing);
    assert.equal(posts().length, 0);

    // Invalid: the same 422 a submission gets, for the raw and the coded forms.
    for (
      const [path, bad] of [
        ["/api/v3/tracker", { events: [{ event: "no", orgUnit: OU, occurredAt: "2024-13-01" }] }],
        ["/api/v3/events", [coded(), coded({ programStage: "NOPE", occurredAt: "2024-13-01" })]],
      ] as const
    ) {
      const real = await postTracker(t, bad, { path });
      const asDry = await postTracker(t, bad, { path: `${path}?dryRun=true&dhis2=true` });
      assert.equal(real.status, 422);
      assert.equal(asDry.status, 422);
      const [a, b] = [(await real.json()).error, (await asDry.json()).error];
      assert.ok(a.details.length >= 1, JSON.stringify(a));
      assert.deepEqual({ ...b, requestId: "" }, { ...a, requestId: "" });
    }
    assert.deepEqual(await stored(), nothing);
    assert.equal(posts().length, 0);

    // Asked of DHIS2, a program it does not know: rejected, the object's code and request path.
    const badProgram = {
      events: [{ program: "aaaaaaaaaaa", orgUnit: OU, occurredAt: "2024-05-01" }],
    };
    const asked = await postTracker(t, badProgram, {
      path: "/api/v3/tracker?dryRun=true&dhis2=true",
    });
    const refused = await asked.json();
    assert.equal(asked.status, 200, JSON.stringify(refused));
    assert.equal(refused.dhis2.status, "rejected", JSON.stringify(refused.dhis2));
    assert.equal(refused.dhis2.httpStatus, 409);
    assert.equal(refused.dhis2.dhis2Status, "ERROR");
    assert.deepEqual(
      refused.dhis2.conflicts.map((c: Loose) => [c.type, c.uid, c.errorCode, c.path]),
      [
        // No stage given, and the program is unknown (E1010).
        ["EVENT", refused.objects[0].uid, "E1123", "$.events[0]"],
        ["EVENT", refused.objects[0].uid, "E1010", "$.events[0]"],
      ],
    );
    assert.match(
      refused.dhis2.error,
      /^DHIS2 refused the tracker payload: E1123 EVENT \w+ at \$\.events\[0\]; E1010 EVENT/,
    );
    assert.deepEqual(posts().map((r) => [r.query.importMode, r.query.async]), [[
      "VALIDATE",
      "false",
    ]]);

    // A good person: what a delivery would record, and the simulator keeps nothing.
    const good = await postTracker(t, person("Jane"), {
      path: "/api/v3/tracker?dryRun=true&dhis2=true",
    });
    const ok = (await good.json()).dhis2;
    assert.deepEqual(
      {
        status: ok.status,
        httpStatus: ok.httpStatus,
        dhis2Status: ok.dhis2Status,
        error: ok.error,
        conflicts: ok.conflicts,
      },
      { status: "delivered", httpStatus: 200, dhis2Status: "OK", error: null, conflicts: null },
    );
    assert.deepEqual(simStore(), [0, 0, 0, 0]);

    // The coded form: paths are the caller's.
    const codedRes = await postTracker(t, [coded(), coded({ dataValues: { AGE: "old" } })], {
      path: "/api/v3/events?dryRun=true&dhis2=true",
    });
    const codedReply = await codedRes.json();
    assert.equal(codedRes.status, 200, JSON.stringify(codedReply));
    assert.deepEqual(codedReply.objects.map((o: Loose) => o.path), ["$[0]", "$[1]"]);
    assert.equal(codedReply.payload.events[0].program, "eBAyeGv0exc");
    assert.equal(codedReply.dhis2.status, "rejected");
    assert.deepEqual(codedReply.dhis2.conflicts.map((c: Loose) => [c.errorCode, c.path]), [[
      "E1302",
      "$[1]",
    ]]);
    assert.deepEqual(simStore(), [0, 0, 0, 0]);

    // The flags' rules, as aggregate's: dhis2=true alone, or a value not true/false, is a 422.
    for (const path of ["/api/v3/tracker", "/api/v3/events", "/api/v3/trackedEntities"]) {
      const alone = await postTracker(t, {}, { path: `${path}?dhis2=true` });
      assert.equal(alone.status, 422, path);
      assert.match((await alone.json()).error.message, /dhis2=true needs dryRun=true/);
      const odd = await postTracker(t, {}, { path: `${path}?dryRun=yes` });
      assert.equal(odd.status, 422, path);
      await odd.body?.cancel();
    }
    assert.deepEqual(await stored(), nothing);
    assert.deepEqual(simStore(), [0, 0, 0, 0]);
  } finally {
    await t.close();
    await sim.stop();
    await db.close();
  }
});

dbTest(
  "tracker dry run with atomicMode=OBJECT: partial; the person route asks DHIS2 too",
  async () => {
    const db = await createTestDb("tracker_dry_run_object");
    const sim = await startSimulator();
    const t = await createTestApp(db, {
      env: {
        DHIS2GW_DHIS2_BASE_URL: sim.url,
        DHIS2GW_DHIS2_USER: DEFAULT_USERNAME,
        DHIS2GW_DHIS2_PASSWORD: DEFAULT_PASSWORD,
        DHIS2GW_TRACKER_ATOMIC_MODE: "OBJECT",
      },
    });
    t.app = createApp({
      ...t.deps,
      mappings: staticMappingLookup({}, { default: { OU_559: OU } }),
    });
    try {
      const maps = await t.app.request("/api/v3/tracker/mappings", {
        method: "PUT",
        headers: { "Content-Type": "application/json", ...t.users.admin.headers.token },
        body: JSON.stringify({ mappings: MAPPINGS }),
      });
      assert.equal(maps.status, 200, await maps.clone().text());
      // One good event, one DHIS2 refuses: a real import would commit the first (partial).
      const res = await postTracker(t, [coded(), coded({ dataValues: { AGE: "old" } })], {
        path: "/api/v3/events?dryRun=true&dhis2=true",
      });
      const reply = await res.json();
      assert.equal(res.status, 200, JSON.stringify(reply));
      assert.equal(reply.dhis2.status, "partial", JSON.stringify(reply.dhis2));
      assert.deepEqual(reply.dhis2.conflicts.map((c: Loose) => [c.uid, c.errorCode, c.path]), [
        [reply.objects[1].uid, "E1302", "$[1]"],
      ]);
      assert.match(
        reply.dhis2.error,
        /^DHIS2 refused 1 of 2 object\(s\): E1302 EVENT \w+ at \$\[1\]/,
      );
      assert.equal(
        sim.received.filter((r) => r.path === "/api/tracker")[0].query.atomicMode,
        "OBJECT",
      );

      const person = await postTracker(t, {
        trackedEntityType: "PERSON",
        orgUnit: "OU_559",
        attributes: { FIRST_NAME: "Jane" },
        enrollment: {
          program: "CHILD",
          enrolledAt: "2024-03-01",
          events: [{
            programStage: "BIRTH",
            occurredAt: "2024-03-01",
            dataValues: { WEIGHT: 3200 },
          }],
        },
      }, { path: "/api/v3/trackedEntities?dryRun=true&dhis2=true" });
      const p = await person.json();
      assert.equal(person.status, 200, JSON.stringify(p));
      assert.deepEqual(p.objects.map((o: Loose) => o.path), [
        "$",
        "$.enrollment",
        "$.enrollment.events[0]",
      ]);
      assert.deepEqual([p.dhis2.status, p.dhis2.error], ["delivered", null]);
      assert.equal(p.payload.trackedEntities[0].trackedEntity, p.objects[0].uid);

      const [{ s }] = await db.sql`select count(*)::int as s from submissions`;
      assert.equal(s, 0);
      assert.equal(sim.tracker.store.events.size + sim.tracker.store.trackedEntities.size, 0);
    } finally {
      await t.close();
      await sim.stop();
      await db.close();
    }
  },
);
