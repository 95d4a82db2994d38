/**
 * Personal data in tracker submissions: attribute values are shown to admins only in
 * /api/v3/logs (viewers see UIDs and outcomes), never written to a log line, and delivered
 * payloads are purged after tracker.payload_retention_days while outcome and UIDs stay.
 */
import assert from "node:assert/strict";
import { captureLogger } from "../src/logs/logger.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { purgeTrackerPayloads } from "../src/tracker/queries.ts";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { AttemptLog } from "./support/submissions.ts";
import { person, postTracker, trackerWorker } from "./support/tracker.ts";

const SECRET = "Zainab";

dbTest("viewers see UIDs and outcomes, admins the values; no log line has a value", async () => {
  const db = await createTestDb("tr_privacy");
  const sim = await startSimulator();
  const t = await createTestApp(db);
  const events = new AttemptLog();
  const { log, lines } = captureLogger("debug");
  const worker = trackerWorker(db.sql, sim, events, { log });
  try {
    worker.start();
    const body = person("Jane");
    // An option code DHIS2 refuses, quoting the value in its message (E1125).
    body.trackedEntities[0].attributes.push({ attribute: "cejWyOfXge6", value: SECRET });
    const res = await postTracker(t, body);
    assert.equal(res.status, 200);
    const { submission_id: id, objects } = await res.json();
    await events.until((e) => e.some((x) => x.id === id));
    const as = async (role: "admin" | "viewer") => {
      const r = await t.app.request(`/api/v3/logs/${id}`, { headers: t.users[role].headers.token });
      assert.equal(r.status, 200);
      return await r.text();
    };
    const admin = JSON.parse(await as("admin"));
    assert.equal(admin.kind, "tracker");
    assert.equal(admin.status, "rejected");
    assert.equal(admin.payload.trackedEntities[0].attributes[1].value, SECRET);
    assert.equal(admin.dhis2_payload.trackedEntities[0].attributes[1].value, SECRET);
    assert.deepEqual(
      admin.tracker.objects.map((o: Record<string, unknown>) => [o.uid, o.result, o.error_code]),
      [
        [objects[0].uid, "refused", "E1125"],
        [objects[1].uid, "refused", "E5000"],
        [objects[2].uid, "refused", "E5000"],
      ],
    );
    assert.match(admin.tracker.objects[0].message, new RegExp(SECRET));

    const viewerText = await as("viewer");
    assert.ok(!viewerText.includes(SECRET), viewerText);
    const viewer = JSON.parse(viewerText);
    assert.equal(viewer.payload.trackedEntities[0].attributes[0].value, "[hidden]");
    assert.equal(viewer.dhis2_payload.trackedEntities[0].attributes[1].value, "[hidden]");
    assert.equal(viewer.dhis2_payload.trackedEntities[0].attributes[1].attribute, "cejWyOfXge6");
    assert.deepEqual(
      viewer.tracker.objects.map((o: Record<string, unknown>) => [o.uid, o.path, o.error_code]),
      [
        [objects[0].uid, "$.trackedEntities[0]", "E1125"],
        [objects[1].uid, "$.trackedEntities[0].enrollments[0]", "E5000"],
        [objects[2].uid, "$.trackedEntities[0].enrollments[0].events[0]", "E5000"],
      ],
    );
    for (const line of [...lines, ...t.logs]) assert.ok(!line.includes(SECRET), line);
    assert.ok(lines.some((l) => l.includes("submission rejected by DHIS2")));

    const listed = await t.app.request("/api/v3/logs?kind=tracker", {
      headers: t.users.viewer.headers.token,
    });
    assert.deepEqual(
      (await listed.json()).items.map((i: { id: number; kind: string }) => [i.id, i.kind]),
      [[id, "tracker"]],
    );
    const none = await t.app.request("/api/v3/logs?kind=aggregate", {
      headers: t.users.viewer.headers.token,
    });
    assert.equal((await none.json()).total, 0);
    const bad = await t.app.request("/api/v3/logs?kind=events", {
      headers: t.users.viewer.headers.token,
    });
    assert.equal(bad.status, 422);
  } finally {
    await worker.stop(5000);
    await t.close();
    await sim.stop();
    await db.close();
  }
});

dbTest("delivered payloads are purged after the retention; outcome and UIDs stay", async () => {
  const db = await createTestDb("tr_purge");
  const sim = await startSimulator();
  const t = await createTestApp(db);
  const events = new AttemptLog();
  const worker = trackerWorker(db.sql, sim, events);
  try {
    worker.start();
    const ok = await (await postTracker(t, person(SECRET))).json();
    const refused =
      await (await postTracker(t, person(SECRET, {}, { programStage: "aaaaaaaaaaa" })))
        .json();
    await events.until((e) =>
      e.some((x) => x.id === ok.submission_id) && e.some((x) => x.id === refused.submission_id)
    );
    // Not yet: delivered just now, the retention (default 30 days) has not passed.
    assert.equal(await purgeTrackerPayloads(db.sql, new Date(Date.now() - 30 * 86_400_000)), 0);
    assert.equal(await purgeTrackerPayloads(db.sql, new Date(Date.now() + 1000)), 1);
    const rows = await db.sql`
      select s.id, s.status, s.request, s.payload, s.payload_purged_at, d.imported,
             (select count(*)::int from tracker_objects o where o.submission_id = s.id) as objects
      from submissions s join deliveries d on d.submission_id = s.id order by s.id`;
    assert.deepEqual(rows.map((r) => [r.status, r.request, r.payload, r.imported, r.objects]), [
      ["delivered", { purged: true }, { purged: true }, 3, 3],
      ["rejected", rows[1].request, rows[1].payload, 0, 3],
    ]);
    assert.ok(rows[0].payload_purged_at instanceof Date);
    assert.equal(rows[1].payload_purged_at, null);
    const detail = await (await t.app.request(`/api/v3/logs/${ok.submission_id}`, {
      headers: t.users.admin.headers.token,
    })).json();
    assert.deepEqual(
      detail.tracker.objects.map((o: { uid: string }) => o.uid),
      ok.objects.map((o: { uid: string }) => o.uid),
    );
    assert.ok(detail.tracker.payload_purged_at);
    assert.ok(!JSON.stringify(detail).includes(SECRET));
  } finally {
    await worker.stop(5000);
    await t.close();
    await sim.stop();
    await db.close();
  }
});
