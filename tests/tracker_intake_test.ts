/**
 * POST /api/v3/tracker: checked before storing (422 naming each field by its JSON path), UIDs
 * generated at intake and returned, stored with its objects in one transaction, idempotent.
 */
import assert from "node:assert/strict";
import { createTestDb, dbTest } from "./support/pg.ts";
import { createTestApp } from "./support/app.ts";
import { OU, person, postTracker, PROGRAM } from "./support/tracker.ts";
import { isUid } from "../src/dhis2/uid.ts";

dbTest("a nested person is stored with generated UIDs, returned with their paths", async () => {
  const db = await createTestDb("tr_intake");
  const t = await createTestApp(db);
  try {
    const res = await postTracker(t, person("Jane", { ev: "evGiven0001" }));
    assert.equal(res.status, 200, (await res.clone().text()) + t.logs.join("\n"));
    const reply = await res.json();
    assert.equal(reply.status, "queued");
    assert.deepEqual(
      reply.objects.map((
        o: { type: string; path: string; generated: boolean },
      ) => [o.type, o.path, o.generated]),
      [
        ["TRACKED_ENTITY", "$.trackedEntities[0]", true],
        ["ENROLLMENT", "$.trackedEntities[0].enrollments[0]", true],
        ["EVENT", "$.trackedEntities[0].enrollments[0].events[0]", false],
      ],
    );
    assert.ok(reply.objects.every((o: { uid: string }) => isUid(o.uid)));
    assert.equal(reply.objects[2].uid, "evGiven0001");
    const [te, en] = reply.objects.map((o: { uid: string }) => o.uid);
    const [row] = await db.sql`
      select s.kind, s.payload, s.codes, s.org_unit, s.data_set, d.kind as dkind, d.ordering_key
      from submissions s join deliveries d on d.submission_id = s.id
      where s.id = ${reply.submission_id}`;
    assert.equal(row.kind, "tracker");
    assert.equal(row.dkind, "tracker");
    assert.equal(row.ordering_key, `te:${te}`);
    assert.equal(row.org_unit, OU);
    assert.equal(row.data_set, PROGRAM);
    // Flat, every UID set: what is sent to DHIS2.
    assert.equal(row.payload.trackedEntities[0].trackedEntity, te);
    assert.equal(row.payload.enrollments[0].trackedEntity, te);
    assert.equal(row.payload.events[0].enrollment, en);
    assert.equal(row.payload.trackedEntities[0].enrollments, undefined);
    const objects = await db.sql`
      select type, uid, path, generated, tracked_entity, enrollment from tracker_objects
      where submission_id = ${reply.submission_id} order by position`;
    assert.deepEqual(objects.map((o) => [o.type, o.uid, o.tracked_entity, o.enrollment]), [
      ["TRACKED_ENTITY", te, te, null],
      ["ENROLLMENT", en, te, en],
      ["EVENT", "evGiven0001", te, en],
    ]);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("bad fields: 422 before storing, each named by its JSON path", async () => {
  const db = await createTestDb("tr_422");
  const t = await createTestApp(db);
  try {
    const bad = person("Jane", { te: "not-a-uid" }, { occurredAt: "2024-02-30", status: "FINE" });
    const res = await postTracker(t, bad);
    assert.equal(res.status, 422);
    const { error } = await res.json();
    assert.equal(error.code, "validation_failed");
    assert.deepEqual(error.details.map((d: { field: string }) => d.field), [
      "$.trackedEntities[0].trackedEntity",
      "$.trackedEntities[0].enrollments[0].events[0].status",
      "$.trackedEntities[0].enrollments[0].events[0].occurredAt",
    ]);
    const [{ n }] = await db.sql`select count(*)::int as n from submissions`;
    assert.equal(n, 0);
    const malformed = await postTracker(t, "{");
    assert.equal(malformed.status, 400);
    const viewer = await postTracker(t, person(), { as: "viewer" });
    assert.equal(viewer.status, 403);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("Idempotency-Key: a replay returns the same UIDs; another body is a 409", async () => {
  const db = await createTestDb("tr_idem");
  const t = await createTestApp(db);
  try {
    const headers = { "Idempotency-Key": "lab-42" };
    const first = await (await postTracker(t, person("Ann"), { headers })).json();
    const again = await postTracker(t, person("Ann"), { headers });
    assert.equal(again.status, 200);
    assert.equal(again.headers.get("Idempotent-Replayed"), "true");
    const replay = await again.json();
    assert.equal(replay.replayed, true);
    assert.equal(replay.submission_id, first.submission_id);
    assert.deepEqual(replay.objects, first.objects);
    const other = await postTracker(t, person("Bob"), { headers });
    assert.equal(other.status, 409);
    const [{ n }] = await db.sql`select count(*)::int as n from submissions`;
    assert.equal(n, 1);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("hostile input: NUL and lone surrogates, deep nesting, huge arrays are 4xx", async () => {
  const db = await createTestDb("tr_hostile");
  const t = await createTestApp(db);
  try {
    const nul = person("Ja\u0000ne");
    const r1 = await postTracker(t, nul);
    assert.ok(r1.status >= 400 && r1.status < 500, `${r1.status} ${await r1.text()}`);
    const lone = await postTracker(t, JSON.stringify(person("x")).replace('"x"', '"\\ud800"'));
    assert.ok(lone.status >= 400 && lone.status < 500, `${lone.status}`);
    const deep = "[".repeat(5000) + "]".repeat(5000);
    const d = person("x") as Record<string, unknown>;
    const text = JSON.stringify(d).replace('"x"', deep);
    const r2 = await postTracker(t, text);
    assert.ok(r2.status >= 400 && r2.status < 500, `${r2.status} ${await r2.text()}`);
    // Deep nesting where no check looks (an unknown field is passed on to DHIS2 as it is).
    const hidden = JSON.stringify(person("x")).replace('"orgUnit"', `"extra":${deep},"orgUnit"`);
    const r3 = await postTracker(t, hidden);
    assert.ok(r3.status >= 400 && r3.status < 500, `${r3.status} ${await r3.text()}`);
    const coded = await postTracker(t, JSON.stringify({ dataValues: deep }), {
      path: "/api/v3/events",
    });
    assert.ok(coded.status >= 400 && coded.status < 500, `${coded.status}`);
  } finally {
    await t.close();
    await db.close();
  }
});
