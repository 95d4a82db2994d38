/**
 * Delivery is FIFO per ordering key (org unit, period): a submission is not claimed while an
 * older one for the same key is still pending, so a retried older submission can never
 * overwrite a newer one in DHIS2. Finished older ones (delivered, partial, rejected, dead) no
 * longer hold the newer back.
 */
import assert from "node:assert/strict";
import { startSimulator } from "../src/simulator/simulator.ts";
import { claim } from "../src/queue/queries.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import {
  AttemptLog,
  body,
  createSubmissionsApp,
  fastForward,
  insertOne,
  testWorker,
} from "./support/submissions.ts";

async function submit(t: Awaited<ReturnType<typeof createSubmissionsApp>>, b: unknown) {
  const res = await t.post(b);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).submission_id as number;
}

dbTest(
  "an older submission that is retried is delivered before a newer one, same key",
  async () => {
    const db = await createTestDb("q_order_retry");
    const sim = await startSimulator();
    const t = await createSubmissionsApp(db);
    const events = new AttemptLog();
    // A long backoff: the older submission's retry waits for the test's fastForward.
    const worker = testWorker(db.sql, sim, events, {
      backoff: { baseSeconds: 600, maxSeconds: 600 },
    });
    try {
      sim.injectFaults([{ path: "/api/dataValueSets", status: 503, body: "busy", times: 1 }]);
      worker.start();
      const older = await submit(t, body({ ANC1: 1 }));
      await events.until((e) => e.some((x) => x.id === older && x.attempt === 1));
      // The same key (org unit, period), then another key (another period).
      const newer = await submit(t, body({ ANC1: 2 }));
      const other = await submit(t, body({ ANC1: 3 }, { period: "202402" }));
      await events.until((e) => e.some((x) => x.id === other));
      const status = async (id: number) =>
        (await db.sql`select status, attempts from submissions where id = ${id}`)[0];
      // The other key went through; the newer one waits for the older one, unclaimed.
      assert.deepEqual(await status(other), { status: "delivered", attempts: 1 });
      assert.deepEqual(await status(newer), { status: "queued", attempts: 0 });
      assert.deepEqual(await status(older), { status: "retrying", attempts: 1 });

      await fastForward(db.sql);
      await events.until((e) => e.some((x) => x.id === newer));
      const posted = sim.received
        .filter((r) => r.path === "/api/dataValueSets")
        .map((r) => (r.body as { period: string; dataValues: { value: string }[] }))
        .map((b) => `${b.period}=${b.dataValues[0].value}`);
      assert.deepEqual(posted, ["202401=1", "202402=3", "202401=1", "202401=2"]);
      assert.deepEqual(await status(older), { status: "delivered", attempts: 2 });
      assert.deepEqual(await status(newer), { status: "delivered", attempts: 1 });
      const anc = sim.dataValues()
        .filter((v) => v.dataElement === "f7n9E0hX8qk")
        .map((v) => [v.period, v.value])
        .sort();
      assert.deepEqual(anc, [["202401", "2"], ["202402", "3"]]);
    } finally {
      await worker.stop(5000);
      await t.close();
      await sim.stop();
      await db.close();
    }
  },
);

dbTest("a rejected older submission no longer holds a newer one back", async () => {
  const db = await createTestDb("q_order_rejected");
  const sim = await startSimulator();
  const t = await createSubmissionsApp(db);
  const events = new AttemptLog();
  const worker = testWorker(db.sql, sim, events);
  try {
    // Same org unit and period, another (unknown) data set: the key ignores the data set,
    // because DHIS2 stores a value by data element, not by data set.
    const older = await submit(t, body({ ANC1: 1 }, { dataSet: "aaaaaaaaaaa" }));
    const newer = await submit(t, body({ ANC1: 2 }));
    worker.start();
    await events.until((e) => [older, newer].every((id) => e.some((x) => x.id === id)));
    assert.deepEqual(events.events.map((e) => [e.id, e.status]), [
      [older, "rejected"],
      [newer, "delivered"],
    ]);
  } finally {
    await worker.stop(5000);
    await t.close();
    await sim.stop();
    await db.close();
  }
});

dbTest("the claim takes only the oldest pending submission of each key", async () => {
  const db = await createTestDb("q_order_claim");
  try {
    const a1 = await insertOne(db.sql, "a1", "202401");
    const a2 = await insertOne(db.sql, "a2", "202401");
    // The same month spelled another way is the same key (DHIS2 stores both as one period).
    const a3 = await insertOne(db.sql, "a3", "2024-01");
    const b1 = await insertOne(db.sql, "b1", "202402");
    const b2 = await insertOne(db.sql, "b2", "202402");
    // The oldest of key b is not due yet: it still holds b2 back.
    await db.sql`update submissions set run_at = now() + interval '1 hour' where id = ${b1.id}`;
    const ids = async (n = 10) => (await claim(db.sql, "w", n, 60)).map((j) => j.id);
    assert.deepEqual(await ids(), [a1.id]);
    // a1 is running: still pending, so a2 waits.
    assert.deepEqual(await ids(), []);
    await db.sql`update submissions set status = 'dead', locked_by = null where id = ${a1.id}`;
    assert.deepEqual(await ids(), [a2.id]);
    await db.sql`update submissions set status = 'delivered' where id = ${a2.id}`;
    assert.deepEqual(await ids(), [a3.id]);
    await db.sql`update submissions set run_at = now() where id = ${b1.id}`;
    assert.deepEqual(await ids(), [b1.id]);
    await db.sql`update submissions set status = 'partial' where id = ${b1.id}`;
    assert.deepEqual(await ids(), [b2.id]);
  } finally {
    await db.close();
  }
});

dbTest("an older row another claimer has locked (uncommitted) still holds its key", async () => {
  const db = await createTestDb("q_order_locked");
  try {
    const a1 = await insertOne(db.sql, "a1", "202401");
    await insertOne(db.sql, "a2", "202401");
    const b1 = await insertOne(db.sql, "b1", "202402");
    let release!: () => void;
    const held = new Promise<void>((r) => release = r);
    let claimed!: (ids: number[]) => void;
    const first = new Promise<number[]>((r) => claimed = r);
    // Claimer 1 claims a1 and keeps its transaction open.
    const tx1 = db.sql.begin(async (tx) => {
      claimed((await claim(tx, "w1", 1, 60)).map((j) => j.id));
      await held;
    });
    try {
      assert.deepEqual(await first, [a1.id]);
      // Claimer 2 sees a1 as queued and locked: it skips a1 and must not take a2 either.
      const second = await db.sql.begin(async (tx) => {
        await tx`set local lock_timeout = '10s'`;
        return (await claim(tx, "w2", 10, 60)).map((j) => j.id);
      });
      assert.deepEqual(second, [b1.id]);
    } finally {
      release();
      await tx1;
    }
  } finally {
    await db.close();
  }
});
