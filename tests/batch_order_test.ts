/**
 * Order per data value (issue 13 part 2): within one import only the newest submission's value
 * of a key is sent, the older submission `delivered` with a note naming the newer one; and no
 * retry or requeue ever sends a value a newer delivered submission already wrote, with batching
 * on or off.
 */
import assert from "node:assert/strict";
import { requeue } from "../src/queue/requeue.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { AttemptLog, testWorker } from "./support/submissions.ts";
import { ANC, deliveries, store } from "./support/batches.ts";

const posts = (sim: { received: Array<{ path: string; body: unknown }> }) =>
  sim.received.filter((r) => r.path === "/api/dataValueSets")
    .map((r) => (r.body as { dataValues: Array<Record<string, string>> }).dataValues);

const settled = (n: number) => (e: Array<{ outcome: string }>) =>
  e.filter((x) => x.outcome !== "retry" && x.outcome !== "snoozed").length >= n;

const NETS = { code: "NETS", dataElement: "deNetsOk001", value: "true" };
const anc = (value: string) => ({ code: "ANC1", dataElement: ANC, value });

dbTest(
  "within a batch the newest value of a key wins; the older is delivered with a note",
  async () => {
    const db = await createTestDb("batch_order_within");
    const sim = await startSimulator();
    const events = new AttemptLog();
    const worker = testWorker(db.sql, sim, events, { batch: { maxValues: 5000, maxWaitMs: 0 } });
    try {
      // Same org unit and period: the newer two wait behind the first (FIFO per key), and the
      // batch takes all three.
      const a = await store(db.sql, [anc("1"), NETS]);
      const b = await store(db.sql, [anc("2")]);
      const c = await store(db.sql, [anc("3")]);
      worker.start();
      await events.until(settled(3));
      assert.deepEqual(posts(sim), [[
        { dataElement: "deNetsOk001", value: "true", period: "202401", orgUnit: "DiszpKrYNg8" },
        { dataElement: ANC, value: "3", period: "202401", orgUnit: "DiszpKrYNg8" },
      ]]);
      const all = await deliveries(db.sql);
      assert.deepEqual(all.map((d) => d.status), ["delivered", "delivered", "delivered"]);
      assert.equal(
        all[0].lastError,
        `not sent: code ANC1 superseded by newer submission ${c.id} (task ${c.taskId})`,
      );
      assert.equal(
        all[1].lastError,
        `not sent: code ANC1 superseded by newer submission ${c.id} (task ${c.taskId})`,
      );
      assert.equal(all[2].lastError, null);
      assert.equal(sim.dataValues().find((v) => v.dataElement === ANC)?.value, "3");
      void a, b;
    } finally {
      await worker.stop(5000);
      await sim.stop();
      await db.close();
    }
  },
);

for (const batching of [false, true]) {
  dbTest(
    `a requeued older submission never overwrites a newer delivered value (batching ${
      batching ? "on" : "off"
    })`,
    async () => {
      const db = await createTestDb(`batch_order_requeue_${batching}`);
      const sim = await startSimulator();
      const events = new AttemptLog();
      const worker = testWorker(db.sql, sim, events, {
        ...(batching ? { batch: { maxValues: 5000, maxWaitMs: 0 } } : {}),
      });
      try {
        worker.start();
        const older = await store(db.sql, [anc("1"), NETS]);
        await events.until(settled(1));
        const newer = await store(db.sql, [anc("2")]);
        await events.until(settled(2));
        const only = await store(db.sql, [anc("5")], { period: "202402" });
        await events.until(settled(3));
        assert.equal(sim.dataValues().find((v) => v.period === "202401")?.value, "2");

        // The operator requeues the older ones: ANC1 of 202401 belongs to the newer submission
        // now; only what nobody newer wrote is sent again.
        sim.received.length = 0;
        await requeue(db.sql, db.sql`id in (${older.id}, ${only.id})`, "tester");
        await events.until(settled(5));
        const sent = posts(sim).flat().map((v) => `${v.period ?? ""}:${v.dataElement}=${v.value}`);
        assert.deepEqual(
          sent.sort(),
          [":deNetsOk001=true", ":f7n9E0hX8qk=5"].map((s) =>
            batching ? s.replace(":deNets", "202401:deNets").replace(":f7n9", "202402:f7n9") : s
          ).sort(),
        );
        assert.equal(
          sim.dataValues().find((v) => v.period === "202401" && v.dataElement === ANC)
            ?.value,
          "2",
        );
        const all = await deliveries(db.sql);
        assert.equal(all[0].status, "delivered");
        assert.equal(
          all[0].lastError,
          `not sent: code ANC1 superseded by newer submission ${newer.id} (task ${newer.taskId})`,
        );
        assert.equal(all[2].lastError, null);
      } finally {
        await worker.stop(5000);
        await sim.stop();
        await db.close();
      }
    },
  );
}

dbTest(
  "a requeued submission whose every value a newer one wrote is delivered without a request",
  async () => {
    const db = await createTestDb("batch_order_nothing_left");
    const sim = await startSimulator();
    const events = new AttemptLog();
    const worker = testWorker(db.sql, sim, events);
    try {
      worker.start();
      const older = await store(db.sql, [anc("1")]);
      await events.until(settled(1));
      const newer = await store(db.sql, [anc("2")]);
      await events.until(settled(2));
      const before = posts(sim).length;
      await requeue(db.sql, db.sql`id = ${older.id}`, "tester");
      await events.until(settled(3));
      assert.equal(posts(sim).length, before);
      const [d] = await deliveries(db.sql);
      assert.equal(d.status, "delivered");
      assert.match(d.lastError!, new RegExp(`superseded by newer submission ${newer.id} `));
    } finally {
      await worker.stop(5000);
      await sim.stop();
      await db.close();
    }
  },
);
