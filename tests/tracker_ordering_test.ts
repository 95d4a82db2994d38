/**
 * Per-person ordering: an event for a person whose submission is still retrying waits for it
 * (held behind it by the ordering key), then both deliver in order; a submission about someone
 * else is not held up meanwhile.
 */
import assert from "node:assert/strict";
import { startSimulator } from "../src/simulator/simulator.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { AttemptLog } from "./support/submissions.ts";
import {
  BIRTH,
  insertTracker,
  OU,
  person,
  POSTNATAL,
  PROGRAM,
  trackerWorker,
} from "./support/tracker.ts";

dbTest(
  "an event waits for the retrying submission that creates its person, others do not",
  async () => {
    const db = await createTestDb("tr_order");
    const sim = await startSimulator();
    const events = new AttemptLog();
    const worker = trackerWorker(db.sql, sim, events, {
      backoff: { baseSeconds: 2, maxSeconds: 60, jitter: 0 },
    });
    try {
      sim.injectFaults([{
        path: "/api/tracker",
        method: "POST",
        status: 503,
        body: "busy",
        times: 2,
      }]);
      const a = await insertTracker(
        db.sql,
        person("Ann", { te: "teOrderAnn1", en: "enOrderAnn1" }),
      );
      // Names only the enrollment: the person comes from A's stored objects.
      const b = await insertTracker(db.sql, {
        events: [{
          event: "evOrderAnn2",
          program: PROGRAM,
          programStage: POSTNATAL,
          enrollment: "enOrderAnn1",
          orgUnit: OU,
          occurredAt: "2024-03-10",
          dataValues: [{ dataElement: "UXz7xuGCEhU", value: "3600" }],
        }],
      });
      const keys = await db.sql`
      select submission_id, ordering_key, held from deliveries order by id`;
      assert.deepEqual(keys.map((k) => [k.ordering_key, k.held]), [
        ["te:teOrderAnn1", false],
        ["te:teOrderAnn1", true],
      ]);
      worker.start();
      await events.until((e) => e.some((x) => x.id === a.id && x.attempt === 2));
      const c = await insertTracker(db.sql, person("Cid", {}, { programStage: BIRTH }));
      await events.until((e) => e.some((x) => x.id === c.id && x.outcome === "delivered"));
      const [aNow] = await db.sql`select status from deliveries where submission_id = ${a.id}`;
      assert.equal(aNow.status, "retrying", "C went while A was still retrying");
      await events.until((e) => e.some((x) => x.id === b.id && x.outcome === "delivered"), 30_000);
      const order = events.events.filter((e) => e.outcome !== "snoozed").map((e) =>
        `${e.id === a.id ? "A" : e.id === b.id ? "B" : "C"}${e.attempt}:${e.outcome}`
      );
      assert.deepEqual(order, [
        "A1:retry",
        "A2:retry",
        "C1:delivered",
        "A3:delivered",
        "B1:delivered",
      ]);
      assert.equal(sim.tracker.store.events.get("evOrderAnn2")!.enrollment, "enOrderAnn1");
    } finally {
      await worker.stop(5000);
      await sim.stop();
      await db.close();
    }
  },
);
