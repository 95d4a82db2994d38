/**
 * Tracker submissions delivered by the worker to the simulator's /api/tracker (sync): outcomes
 * per object with the path in the original request, retries, a resend after a timeout that
 * creates nothing twice, and E1083 on a resend of a completed event that had landed.
 */
import assert from "node:assert/strict";
import type { Sql } from "../src/db/db.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { createTestApp, type TestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { AttemptLog } from "./support/submissions.ts";
import {
  BIRTH,
  OU,
  person,
  postTracker,
  PROGRAM,
  trackerClient,
  trackerWorker,
} from "./support/tracker.ts";

// deno-lint-ignore no-explicit-any
type Loose = Record<string, any>;

async function submit(t: TestApp, body: unknown): Promise<{ id: number; uids: string[] }> {
  const res = await postTracker(t, body);
  assert.equal(res.status, 200, await res.clone().text());
  const r = await res.json();
  return { id: r.submission_id, uids: r.objects.map((o: { uid: string }) => o.uid) };
}

async function delivery(sql: Sql, id: number): Promise<Loose> {
  const [d] = await sql<Loose[]>`select * from deliveries where submission_id = ${id}`;
  const attempts = await sql<Loose[]>`
    select number, outcome, http_status, error from delivery_attempts where delivery_id = ${d.id}
    order by number`;
  return { ...d, attemptRows: attempts };
}

dbTest(
  "a person with enrollment and event is delivered: created in DHIS2 with our UIDs",
  async () => {
    const db = await createTestDb("tr_deliver");
    const sim = await startSimulator();
    const t = await createTestApp(db);
    const events = new AttemptLog();
    const worker = trackerWorker(db.sql, sim, events);
    try {
      worker.start();
      const { id, uids } = await submit(t, person("Jane"));
      await events.until((e) => e.some((x) => x.id === id && x.outcome === "delivered"));
      const d = await delivery(db.sql, id);
      assert.equal(d.status, "delivered");
      assert.deepEqual([d.imported, d.updated, d.ignored], [3, 0, 0]);
      assert.equal(d.http_status, 200);
      assert.equal(d.dhis2_status, "OK");
      const posts = sim.received.filter((r) => r.path === "/api/tracker");
      assert.equal(posts.length, 1);
      assert.equal(posts[0].query.async, "false");
      assert.equal(posts[0].query.importStrategy, "CREATE_AND_UPDATE");
      assert.equal(posts[0].query.atomicMode, "ALL");
      assert.deepEqual([...sim.tracker.store.trackedEntities.keys()], [uids[0]]);
      assert.deepEqual([...sim.tracker.store.enrollments.keys()], [uids[1]]);
      assert.deepEqual([...sim.tracker.store.events.keys()], [uids[2]]);
      assert.equal(sim.tracker.store.events.get(uids[2])!.enrollment, uids[1]);
    } finally {
      await worker.stop(5000);
      await t.close();
      await sim.stop();
      await db.close();
    }
  },
);

dbTest(
  "a refused object is rejected with its uid, type, code, message and request path",
  async () => {
    const db = await createTestDb("tr_reject");
    const sim = await startSimulator();
    const t = await createTestApp(db);
    const events = new AttemptLog();
    const worker = trackerWorker(db.sql, sim, events);
    try {
      worker.start();
      // A well-formed stage UID the simulator does not know: E1013.
      const { id, uids } = await submit(t, person("Jane", {}, { programStage: "aaaaaaaaaaa" }));
      await events.until((e) => e.some((x) => x.id === id));
      const d = await delivery(db.sql, id);
      assert.equal(d.status, "rejected");
      assert.equal(d.attempts, 1);
      assert.equal(d.http_status, 409);
      assert.deepEqual(d.conflicts, [{
        type: "EVENT",
        uid: uids[2],
        errorCode: "E1013",
        message: "Could not find ProgramStage: `aaaaaaaaaaa`, linked to Event.",
        path: "$.trackedEntities[0].enrollments[0].events[0]",
      }]);
      assert.match(
        d.last_error,
        /E1013 EVENT \w+ at \$\.trackedEntities\[0\]\.enrollments\[0\]\.events\[0\]/,
      );
      // atomicMode=ALL: nothing was imported.
      assert.equal(sim.tracker.store.trackedEntities.size, 0);
    } finally {
      await worker.stop(5000);
      await t.close();
      await sim.stop();
      await db.close();
    }
  },
);

dbTest("atomicMode=OBJECT: the good objects land, the bad one is listed (partial)", async () => {
  const db = await createTestDb("tr_partial");
  const sim = await startSimulator();
  const t = await createTestApp(db);
  const events = new AttemptLog();
  const client = trackerClient(sim, "OBJECT");
  const worker = trackerWorker(db.sql, sim, events, { kind: { client } });
  try {
    worker.start();
    const ev = (weight: string) => ({
      program: "eBAyeGv0exc",
      orgUnit: OU,
      occurredAt: "2024-05-01",
      dataValues: [{ dataElement: "qrur9Dvnyt5", value: weight }],
    });
    const { id, uids } = await submit(t, { events: [ev("34"), ev("thirty")] });
    await events.until((e) => e.some((x) => x.id === id));
    const d = await delivery(db.sql, id);
    assert.equal(d.status, "partial");
    assert.deepEqual([d.imported, d.ignored], [1, 1]);
    assert.deepEqual(d.conflicts.map((c: Loose) => [c.uid, c.errorCode, c.path]), [
      [uids[1], "E1302", "$.events[1]"],
    ]);
    assert.deepEqual([...sim.tracker.store.events.keys()], [uids[0]]);
  } finally {
    await worker.stop(5000);
    await t.close();
    await sim.stop();
    await db.close();
  }
});

dbTest("a timeout that landed anyway: the resend updates, nothing is created twice", async () => {
  const db = await createTestDb("tr_timeout");
  const sim = await startSimulator();
  const t = await createTestApp(db);
  const events = new AttemptLog();
  const client = trackerClient(sim, "ALL", 300);
  const worker = trackerWorker(db.sql, sim, events, { kind: { client }, random: () => 0 });
  try {
    // The first POST is answered after the client gave up, but DHIS2 still imports it.
    sim.injectFaults([{ path: "/api/tracker", method: "POST", delayMs: 700 }]);
    worker.start();
    const { id, uids } = await submit(t, person("Jane"));
    await events.until((e) => e.some((x) => x.id === id && x.outcome === "delivered"), 30_000);
    const d = await delivery(db.sql, id);
    assert.deepEqual(d.attemptRows.map((a: Loose) => a.outcome), ["retry", "delivered"]);
    assert.match(d.attemptRows[0].error, /timed out/);
    assert.deepEqual([d.imported, d.updated], [0, 3]);
    assert.deepEqual([...sim.tracker.store.trackedEntities.keys()], [uids[0]]);
    assert.equal(sim.tracker.store.events.size, 1);
  } finally {
    await worker.stop(5000);
    await t.close();
    await sim.stop();
    await db.close();
  }
});

dbTest(
  "E1083 on the resend of a completed event that landed: delivered, not rejected",
  async () => {
    const db = await createTestDb("tr_e1083");
    // A user who may not uncomplete events (no ALL, no F_UNCOMPLETE_EVENT).
    const sim = await startSimulator({
      users: [{ username: "importer", password: "Import-123", authorities: ["F_TRACKER_IMPORT"] }],
    });
    const t = await createTestApp(db);
    const events = new AttemptLog();
    const client = trackerClient(sim, "ALL", 300, "importer", "Import-123");
    const worker = trackerWorker(db.sql, sim, events, { kind: { client }, random: () => 0 });
    try {
      sim.injectFaults([{ path: "/api/tracker", method: "POST", delayMs: 700 }]);
      worker.start();
      const { id, uids } = await submit(t, {
        events: [{
          program: PROGRAM,
          programStage: BIRTH,
          enrollment: "enLanded001",
          orgUnit: OU,
          occurredAt: "2024-03-01",
          status: "COMPLETED",
          dataValues: [{ dataElement: "UXz7xuGCEhU", value: "3100" }],
        }],
        enrollments: [{
          enrollment: "enLanded001",
          trackedEntity: "teLanded001",
          program: PROGRAM,
          orgUnit: OU,
          enrolledAt: "2024-03-01",
        }],
        trackedEntities: [{
          trackedEntity: "teLanded001",
          trackedEntityType: "nEenWmSyUEp",
          orgUnit: OU,
        }],
      });
      await events.until((e) => e.some((x) => x.id === id && x.attempt === 2), 30_000);
      const d = await delivery(db.sql, id);
      assert.equal(d.status, "delivered", d.last_error);
      assert.deepEqual(d.attemptRows.map((a: Loose) => [a.outcome, a.http_status]), [
        ["retry", null],
        ["delivered", 409],
      ]);
      assert.deepEqual(d.conflicts.map((c: Loose) => c.errorCode), ["E1083"]);
      // The read-back of the event was made before deciding.
      assert.ok(sim.received.some((r) => r.path === `/api/tracker/events/${uids[2]}`));
      assert.equal(sim.tracker.store.events.size, 1);
    } finally {
      await worker.stop(5000);
      await t.close();
      await sim.stop();
      await db.close();
    }
  },
);
