/**
 * A destination's rate limit counts requests, and a batch can make more than the one its claim
 * paid for: the halves of a split, and the completion registrations sent after the import. Each
 * of those spends a token too (waiting for one when the bucket is empty), so a split or a
 * completion cannot push a DHIS2 past its configured rate.
 */
import assert from "node:assert/strict";
import { startSimulator } from "../src/simulator/simulator.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { AttemptLog, testWorker } from "./support/submissions.ts";
import { ANC, deliveries, store } from "./support/batches.ts";
import { claimBatchForDestination, claimForDestination } from "../src/queue/destination_claim.ts";

const finished = (n: number) => (e: Array<{ outcome: string }>) =>
  e.filter((x) => x.outcome !== "retry" && x.outcome !== "snoozed").length >= n;

/** Seconds from the first request to each request on `path`, in arrival order. */
function offsets(sim: { received: Array<{ path: string; time: string }> }, path: RegExp) {
  const times = sim.received.filter((r) => path.test(r.path)).map((r) => Date.parse(r.time));
  return times.map((t) => (t - times[0]) / 1000);
}

dbTest("the halves of a split batch each spend a rate token", async () => {
  const db = await createTestDb("batch_rate_split");
  const sim = await startSimulator();
  const events = new AttemptLog();
  // Two requests a second, a burst of two: the claim spends one, then one request each 0.5 s.
  const worker = testWorker(db.sql, sim, events, {
    limits: { name: "default", maxConcurrent: 1, ratePerSecond: 2 },
    batch: { maxValues: 5000, maxWaitMs: 0 },
  });
  try {
    sim.injectFaults([{
      path: "/api/dataValueSets",
      times: Infinity,
      when: (b) => JSON.stringify(b).includes('"666"'),
      status: 409,
      body: {
        httpStatus: "Conflict",
        httpStatusCode: 409,
        status: "ERROR",
        response: {
          responseType: "ImportSummary",
          status: "ERROR",
          description: "The import process failed: ERROR: value too long for type",
          importCount: { imported: 0, updated: 0, ignored: 0, deleted: 0 },
          conflicts: [],
        },
      },
    }]);
    for (let i = 0; i < 4; i++) {
      const value = i === 3 ? "666" : String(i);
      await store(db.sql, [{ code: "ANC1", dataElement: ANC, value }], {
        period: `2020${String(i + 1).padStart(2, "0")}`,
        maxAttempts: 1,
      });
    }
    worker.start();
    await events.until(finished(4), 30_000);
    // 4 → 2 (fine) + 2 → 1 + 1: five imports, one claim.
    const at = offsets(sim, /\/dataValueSets$/);
    assert.equal(at.length, 5);
    // The claim and the first half share the burst (and what refilled between the claim and
    // the first import); from then on each import waits for its token, 0.5 s after the one
    // before. Without tokens they follow each other within milliseconds.
    const shown = at.join(", ");
    for (let i = 3; i < at.length; i++) {
      assert.ok(at[i] - at[i - 1] >= 0.4, `imports ${i - 1} and ${i}: ${shown}`);
    }
    assert.deepEqual((await deliveries(db.sql)).map((d) => d.status), [
      "delivered",
      "delivered",
      "delivered",
      "dead",
    ]);
  } finally {
    await worker.stop(5000);
    await sim.stop();
    await db.close();
  }
});

dbTest("a batch's completion registrations spend a rate token", async () => {
  const db = await createTestDb("batch_rate_completion");
  const sim = await startSimulator();
  const events = new AttemptLog();
  // One request a second: the claim spent the only token on the import.
  const worker = testWorker(db.sql, sim, events, {
    limits: { name: "default", maxConcurrent: 1, ratePerSecond: 1 },
    batch: { maxValues: 5000, maxWaitMs: 0 },
  });
  try {
    for (let i = 0; i < 3; i++) {
      await store(db.sql, [{ code: "ANC1", dataElement: ANC, value: String(i) }], {
        period: `2020${String(i + 1).padStart(2, "0")}`,
        complete: "2020-06-01",
      });
    }
    worker.start();
    await events.until(finished(3), 30_000);
    const at = offsets(sim, /\/(dataValueSets|completeDataSetRegistrations)$/);
    const paths = sim.received.map((r) => r.path).filter((p) => /Registrations|ValueSets/.test(p));
    assert.deepEqual(paths, ["/api/dataValueSets", "/api/completeDataSetRegistrations"]);
    // The token comes 1 s after the claim took the last one, a little before the import.
    assert.ok(at[1] >= 0.7, `the registration ${at[1]} s after the import`);
    assert.deepEqual((await deliveries(db.sql)).map((d) => d.status), [
      "delivered",
      "delivered",
      "delivered",
    ]);
  } finally {
    await worker.stop(5000);
    await sim.stop();
    await db.close();
  }
});

dbTest(
  "a claim's token refills up to when the tokens were counted, not to the end of the claim",
  async () => {
    const db = await createTestDb("batch_rate_refill");
    try {
      await store(db.sql, [{ code: "ANC1", dataElement: ANC, value: "1" }]);
      await store(db.sql, [{ code: "ANC1", dataElement: ANC, value: "2" }], { period: "202002" });
      // A claim that takes 300 ms between counting the tokens and spending one (a slow server).
      await db.sql`
      create function slow_claim() returns trigger language plpgsql as $$
      begin perform pg_sleep(0.3); return new; end $$`;
      await db.sql`
      create trigger slow_claim before update on deliveries
      for each row when (new.status = 'running') execute function slow_claim()`;
      const limits = { name: "default", maxConcurrent: 5, ratePerSecond: 1 };
      // One token a second, a burst of one: each claim spends it. The 0.3 s a claim took after
      // counting are refill already earned; set to the claim's end, the bucket lost them.
      const earned = async () => {
        const [{ tokens }] = await db.sql<{ tokens: number }[]>`
          select (tokens + extract(epoch from clock_timestamp() - refilled_at))::float8 as tokens
          from destinations where name = 'default'`;
        return tokens;
      };
      const batch = { maxValues: 1, maxWaitMs: 0 };
      const batched = await claimBatchForDestination(db.sql, limits, batch, "w", 60);
      assert.equal(batched.jobs.length, 1);
      const afterBatch = await earned();
      assert.ok(afterBatch >= 0.25, `batch claim: ${afterBatch} tokens 0.3 s after counting`);
      // A full bucket again for the one-by-one claim.
      await db.sql`update destinations set tokens = 1, refilled_at = now() - interval '10 s'`;
      const lone = await claimForDestination(db.sql, limits, "w", 1, 60);
      assert.equal(lone.jobs.length, 1);
      const afterLone = await earned();
      assert.ok(afterLone >= 0.25, `claim: ${afterLone} tokens 0.3 s after counting`);
    } finally {
      await db.close();
    }
  },
);
