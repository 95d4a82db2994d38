/**
 * Destinations and batching together: a destination's worker claims batches of its own
 * destination only (a copy's own payload rides its own destination's batches), and with
 * batching on a destination's `max_concurrent` counts requests (batches) in flight across
 * replicas, not deliveries, and its rate limit spends one token per batch.
 */
import assert from "node:assert/strict";
import { AGGREGATE, aggregateBatching } from "../src/aggregate/kind.ts";
import { aggregateOrderingKey } from "../src/aggregate/ordering_key.ts";
import { connect, type Db } from "../src/db/db.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { CircuitBreakers } from "../src/queue/circuit_breaker.ts";
import { claimBatchForDestination } from "../src/queue/destination_claim.ts";
import type { BatchResult, ClaimedDelivery, DeliveryKind } from "../src/queue/kind.ts";
import { enqueue } from "../src/queue/queries.ts";
import { Wakeup } from "../src/queue/wakeup.ts";
import { Worker } from "../src/queue/worker.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { ANC } from "./support/batches.ts";
import { AttemptLog, DATA_SET, ORG_UNIT, periodOf, testWorker } from "./support/submissions.ts";

/** Submission i: to `north` with ANC = i, and a copy to `south` (own payload) with ANC = 1000 + i. */
async function storeBoth(sql: Db, i: number, destinations = ["north", "south"]): Promise<void> {
  const period = periodOf(i);
  const payload = (value: number) => ({
    dataSet: DATA_SET,
    period,
    orgUnit: ORG_UNIT,
    dataValues: [{ dataElement: ANC, value: String(value) }],
  });
  const own = payload(i);
  await enqueue(sql, {
    userUid: "uTester0001",
    username: "tester",
    sourceName: "default",
    idempotencyKey: null,
    requestHash: crypto.randomUUID(),
    orgUnit: ORG_UNIT,
    orgUnitName: null,
    period,
    dataSet: DATA_SET,
    kind: AGGREGATE,
    requestJson: "{}",
    payload: own,
    codes: ["ANC1"],
    unmappedCodes: [],
    deliveries: destinations.map((destination, k) => {
      const p = k === 0 ? own : payload(1000 + i);
      return {
        destination,
        kind: AGGREGATE,
        orderingKey: aggregateOrderingKey(ORG_UNIT, period),
        maxAttempts: 3,
        ...(k === 0 ? {} : { payload: p, codes: ["ANC1"] }),
        ...aggregateBatching(p),
      };
    }),
  });
}

const imports = (sim: { received: Array<{ path: string; body: unknown }> }) =>
  sim.received.filter((r) => r.path === "/api/dataValueSets")
    .map((r) =>
      (r.body as { dataValues: Array<{ value: string }> }).dataValues.map((v) => v.value)
    );

dbTest(
  "two destinations with batching: each worker sends only its own destination's batches",
  async () => {
    const db = await createTestDb("dest_batches_own");
    const north = await startSimulator();
    const south = await startSimulator();
    const events = new AttemptLog();
    const batch = { maxValues: 10, maxWaitMs: 0 };
    const workers = [["north", north], ["south", south]].map(([name, sim]) =>
      testWorker(db.sql, sim as typeof north, events, {
        destination: name as string,
        limits: { name: name as string, maxConcurrent: 2, ratePerSecond: 0 },
        batch,
      })
    );
    try {
      for (let i = 0; i < 40; i++) await storeBoth(db.sql, i);
      for (const w of workers) w.start();
      await events.until((e) => e.filter((x) => x.outcome === "delivered").length === 80, 60_000);
      const n = imports(north);
      const s = imports(south);
      assert.equal(n.length, 4, "40 one-value submissions in imports of 10");
      assert.equal(s.length, 4);
      const range = (from: number) => Array.from({ length: 40 }, (_, i) => String(from + i));
      assert.deepEqual(n.flat().sort((a, b) => +a - +b), range(0));
      assert.deepEqual(s.flat().sort((a, b) => +a - +b), range(1000), "the copy's own payload");
      // Every batch row names one destination, and every delivery that rode it is of that one.
      const mixed = await db.sql`
      select b.id from delivery_batches b
      join delivery_attempts a on a.batch_id = b.id
      join deliveries d on d.id = a.delivery_id
      group by b.id, b.destination
      having count(distinct d.destination) <> 1 or min(d.destination) <> b.destination`;
      assert.equal(mixed.length, 0);
      const [b] = await db.sql`select count(*)::int as n from delivery_batches`;
      assert.equal(b.n, 8);
    } finally {
      await Promise.all(workers.map((w) => w.stop(5000)));
      await north.stop();
      await south.stop();
      await db.close();
    }
  },
);

dbTest("a batch claim takes one slot of max_concurrent and one rate token", async () => {
  const db = await createTestDb("dest_batches_claim");
  const batch = { maxValues: 5, maxWaitMs: 0 };
  const limits = { name: "north", maxConcurrent: 2, ratePerSecond: 10 };
  try {
    for (let i = 0; i < 20; i++) await storeBoth(db.sql, i);
    const a = await claimBatchForDestination(db.sql, limits, batch, "w1", 60);
    assert.equal(a.jobs.length, 5);
    assert.equal(a.full, false);
    // A second worker's claim: the second slot.
    const b = await claimBatchForDestination(db.sql, limits, batch, "w2", 60);
    assert.equal(b.jobs.length, 5);
    assert.equal(b.full, true);
    assert.ok([...a.jobs, ...b.jobs].every((j) => j.destination === "north"));
    // Ten deliveries run, but only two requests: the third claim waits for a slot.
    const c = await claimBatchForDestination(db.sql, limits, batch, "w1", 60);
    assert.deepEqual(c, { jobs: [], full: true, rateWaitMs: null });
    // Two tokens spent of a bucket of 10, plus the refill between the claims (10 per second,
    // a few ms): per delivery spent would leave none.
    const [row] = await db.sql`select tokens from destinations where name = 'north'`;
    assert.ok(row.tokens >= 8 && row.tokens < 9, `tokens ${row.tokens}`);
    // One request finishes: its slot is free again.
    await db.sql`
      update deliveries set status = 'delivered', locked_by = null, locked_until = null
      where id = any(${a.jobs.map((j) => j.id)}::bigint[])`;
    const d = await claimBatchForDestination(db.sql, limits, batch, "w1", 60);
    assert.equal(d.jobs.length, 5);
    assert.ok(d.jobs.every((j) => j.destination === "north"));
    // The copies to `south` were never touched.
    const [south] = await db.sql`
      select count(*)::int as n from deliveries where destination = 'south' and attempts = 0`;
    assert.equal(south.n, 20);
  } finally {
    await db.close();
  }
});

const DELIVERED = {
  kind: "delivered" as const,
  facts: { httpStatus: 200, remoteStatus: "OK", counts: null, conflicts: null, response: null },
};

/** A batching stand-in: counts batches and deliveries in flight across every worker. */
class BatchProbe implements DeliveryKind {
  readonly name = AGGREGATE;
  batches = 0;
  deliveries = 0;
  maxBatches = 0;
  maxDeliveries = 0;
  sizes: number[] = [];
  #second = Promise.withResolvers<void>();
  deliver(): never {
    throw new Error("batching is on: every claim is a batch");
  }
  readonly batch = {
    deliverBatch: async (group: readonly ClaimedDelivery[]): Promise<BatchResult> => {
      this.sizes.push(group.length);
      this.maxBatches = Math.max(this.maxBatches, ++this.batches);
      this.deliveries += group.length;
      this.maxDeliveries = Math.max(this.maxDeliveries, this.deliveries);
      // The first batch waits (at most 10 s) for a second one to start: max_concurrent 2 lets
      // two requests run together although they carry ten deliveries.
      if (this.batches >= 2) this.#second.resolve();
      if (this.sizes.length === 1) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          this.#second.promise,
          new Promise((r) => timer = setTimeout(r, 10_000)),
        ]);
        clearTimeout(timer);
      }
      await new Promise((r) => setTimeout(r, 20));
      this.batches--;
      this.deliveries -= group.length;
      return {
        exchanges: [],
        outcomes: group.map((j) => ({ deliveryId: j.id, outcome: DELIVERED, batchId: null })),
      };
    },
  };
}

dbTest(
  "three workers on three pools: at most max_concurrent batches in flight, of 5 each",
  async () => {
    const db = await createTestDb("dest_batches_concurrency");
    const pools = Array.from({ length: 3 }, () => connect({ url: db.url, max: 3 }));
    const probe = new BatchProbe();
    const events = new AttemptLog();
    const workers = pools.map((sql) =>
      new Worker({
        sql,
        log: captureLogger("info").log,
        kinds: [probe],
        destination: "north",
        limits: { name: "north", maxConcurrent: 2, ratePerSecond: 0 },
        batch: { maxValues: 5, maxWaitMs: 0 },
        wakeup: new Wakeup(),
        maxConcurrent: 8,
        leaseSeconds: 60,
        pollIntervalMs: 100,
        backoff: { baseSeconds: 1, maxSeconds: 60, jitter: 0 },
        breakers: new CircuitBreakers(),
        onAttempt: events.push,
      })
    );
    try {
      for (let i = 0; i < 40; i++) await storeBoth(db.sql, i, ["north"]);
      for (const w of workers) w.start();
      await events.until((e) => e.filter((x) => x.outcome === "delivered").length === 40, 60_000);
      assert.equal(probe.maxBatches, 2);
      assert.equal(probe.maxDeliveries, 10);
      assert.deepEqual(probe.sizes, Array(8).fill(5));
    } finally {
      await Promise.all(workers.map((w) => w.stop(5000)));
      await Promise.all(pools.map((p) => p.end()));
      await db.close();
    }
  },
);
