/**
 * Claiming ahead (issue 18, src/queue/worker_ahead.ts): a worker leases more deliveries than it
 * sends at once, and the destination's max_concurrent is then counted in slots
 * (destination_slots, migration 0019) across every worker, whichever way each claims. Unsent
 * leases go back to the queue on a graceful stop without using an attempt.
 */
import assert from "node:assert/strict";
import { AGGREGATE } from "../src/aggregate/kind.ts";
import { connect, type Sql } from "../src/db/db.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { CircuitBreakers } from "../src/queue/circuit_breaker.ts";
import { claimAhead } from "../src/queue/destination_slots.ts";
import type { DeliveryKind, Outcome } from "../src/queue/kind.ts";
import { enqueue } from "../src/queue/queries.ts";
import { Wakeup } from "../src/queue/wakeup.ts";
import { Worker, type WorkerOptions } from "../src/queue/worker.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { AttemptLog, DATA_SET, ORG_UNIT, periodOf } from "./support/submissions.ts";

const DELIVERED: Outcome = {
  kind: "delivered",
  facts: { httpStatus: 200, remoteStatus: "OK", counts: null, conflicts: null, response: null },
};

/** Counts requests in flight across every worker sharing it; `gate` holds them until opened. */
class Probe implements DeliveryKind {
  readonly name = AGGREGATE;
  inFlight = 0;
  max = 0;
  seen = new Map<number, number>();
  #open!: () => void;
  gate: Promise<void>;
  constructor(readonly holdMs: number, held = false) {
    this.gate = held ? new Promise((r) => this.#open = r) : Promise.resolve();
  }
  open() {
    this.#open();
  }
  async deliver(job: { id: number }): Promise<Outcome> {
    this.seen.set(job.id, (this.seen.get(job.id) ?? 0) + 1);
    this.max = Math.max(this.max, ++this.inFlight);
    await this.gate;
    await new Promise((r) => setTimeout(r, this.holdMs));
    this.inFlight--;
    return DELIVERED;
  }
}

async function enqueueMany(sql: Sql, destination: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const period = periodOf(i);
    await enqueue(sql, {
      userUid: "uTester0001",
      username: "tester",
      sourceName: "default",
      idempotencyKey: null,
      requestHash: String(i),
      orgUnit: ORG_UNIT,
      orgUnitName: null,
      period,
      dataSet: DATA_SET,
      kind: AGGREGATE,
      requestJson: "{}",
      payload: { dataSet: DATA_SET, period, orgUnit: ORG_UNIT, dataValues: [] },
      codes: [],
      unmappedCodes: [],
      deliveries: [{
        destination,
        kind: AGGREGATE,
        orderingKey: `${ORG_UNIT}|${period}`,
        maxAttempts: 3,
      }],
    });
  }
}

function worker(
  sql: Sql,
  kind: DeliveryKind,
  events: AttemptLog,
  opts: Partial<WorkerOptions>,
): Worker {
  return new Worker({
    sql,
    log: captureLogger("info").log,
    kinds: [kind],
    destination: opts.limits?.name ?? "any",
    wakeup: new Wakeup(),
    maxConcurrent: 8,
    leaseSeconds: 60,
    pollIntervalMs: 100,
    backoff: { baseSeconds: 1, maxSeconds: 60, jitter: 0 },
    breakers: new CircuitBreakers(),
    onAttempt: events.push,
    ...opts,
  });
}

dbTest(
  "a worker leases ahead of its slots, sends no more than them, and gives the rest back on stop",
  async () => {
    const db = await createTestDb("ahead_lease");
    const probe = new Probe(0, true);
    const events = new AttemptLog();
    const limits = { name: "ahead", maxConcurrent: 2, ratePerSecond: 0 };
    const w = worker(db.sql, probe, events, { limits, claimAhead: 10 });
    try {
      await enqueueMany(db.sql, "ahead", 20);
      w.start();
      const deadline = Date.now() + 20_000;
      let running = 0;
      while (Date.now() < deadline) {
        [{ running }] = await db.sql<{ running: number }[]>`
        select count(*)::int as running from deliveries where status = 'running'`;
        if (probe.inFlight === 2 && running === 10) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      // Ten leased (one claim ahead), two of them sent: the slots say two.
      assert.equal(running, 10);
      assert.equal(probe.inFlight, 2);
      const slots = await db.sql`select destination, worker, slots from destination_slots`;
      assert.deepEqual([...slots], [{ destination: "ahead", worker: w.id, slots: 2 }]);
      const stopping = w.stop(10_000);
      probe.open();
      assert.deepEqual(await stopping, { graceful: true });
      // The two sent were recorded; the eight leased and unsent are queued again, their
      // attempt given back, no attempt row written for them; the worker holds no slot.
      const rows = await db.sql<{ status: string; attempts: number; n: number }[]>`
      select status, attempts, count(*)::int as n from deliveries
      group by status, attempts order by status`;
      assert.deepEqual([...rows], [
        { status: "delivered", attempts: 1, n: 2 },
        { status: "queued", attempts: 0, n: 18 },
      ]);
      const [att] = await db.sql`select count(*)::int as n from delivery_attempts`;
      assert.equal(att.n, 2);
      assert.equal((await db.sql`select 1 from destination_slots`).length, 0);
      assert.equal(probe.max, 2);
    } finally {
      await w.stop(1000);
      await db.close();
    }
  },
);

dbTest("slots and plain claims share max_concurrent across workers", async () => {
  const db = await createTestDb("ahead_mixed");
  const pools = Array.from({ length: 3 }, () => connect({ url: db.url, max: 3 }));
  const probe = new Probe(15);
  const events = new AttemptLog();
  const limits = { name: "mixed", maxConcurrent: 3, ratePerSecond: 0 };
  // Two claim ahead, one claims only what its free slots can send (an older replica).
  const workers = pools.map((sql, i) =>
    worker(sql, probe, events, { limits, claimAhead: i === 2 ? 0 : 30 })
  );
  try {
    await enqueueMany(db.sql, "mixed", 90);
    // The plain worker joins once a claim ahead holds slots: started together, on a loaded
    // machine it could take every slot every time (its finished deliveries wake it at once, a
    // claim ahead that found no slot looks again later) and no claim ahead ever leased.
    workers[0].start();
    workers[1].start();
    const until = Date.now() + 30_000;
    while (!workers.slice(0, 2).some((w) => w.aheadStats!.leased > 0)) {
      if (Date.now() > until) throw new Error("no claim ahead leased anything in 30 s");
      await new Promise((r) => setTimeout(r, 5));
    }
    workers[2].start();
    await events.until((e) => e.filter((x) => x.outcome === "delivered").length === 90, 60_000);
    assert.equal(probe.max, 3);
    assert.equal(probe.seen.size, 90);
    assert.ok([...probe.seen.values()].every((n) => n === 1));
    assert.equal(workers[2].aheadStats, undefined);
    // A claim ahead took several deliveries, not the one slot that had just freed.
    const ahead = workers.slice(0, 2).map((w) => w.aheadStats!).filter((a) => a.leased > 0);
    assert.ok(ahead.length >= 1, "a worker claiming ahead delivered");
    for (const a of ahead) assert.ok(a.leased / a.claims >= 3, JSON.stringify(a));
  } finally {
    await Promise.all(workers.map((w) => w.stop(5000)));
    await Promise.all(pools.map((p) => p.end()));
    await db.close();
  }
});

dbTest(
  "a claim ahead counts other workers' live slots and running deliveries without slots",
  async () => {
    const db = await createTestDb("ahead_count");
    try {
      await enqueueMany(db.sql, "count", 10);
      const req = {
        name: "count",
        maxConcurrent: 5,
        maxLocal: 8,
        want: 4,
        sending: 0,
        ready: 0,
        leaseSeconds: 60,
      };
      // A live row of another worker holds 2 slots; a plain claimer runs 1 delivery.
      await db.sql`
      insert into destination_slots (destination, worker, slots, until)
      values ('count', 'other', 2, now() + interval '1 minute'),
             ('count', 'gone', 3, now() - interval '1 second')`;
      await db.sql`
      update deliveries set status = 'running', attempts = 1, locked_by = 'plain',
                            locked_until = now() + interval '1 minute'
      where id = (select min(id) from deliveries)`;
      const first = await claimAhead(db.sql, "me", req);
      // 5 - 2 (other's slots) - 1 (plain's running delivery); the lapsed row counts nothing.
      assert.equal(first.avail, 2);
      assert.equal(first.jobs.length, 4);
      assert.equal(first.slots, 2);
      const rows = await db.sql`
      select worker, slots from destination_slots order by worker`;
      // The lapsed row is gone; this worker holds the two slots left.
      assert.deepEqual([...rows], [{ worker: "me", slots: 2 }, { worker: "other", slots: 2 }]);
      // Every slot taken: nothing leased, since nothing could be sent.
      const other = await claimAhead(db.sql, "third", req);
      assert.deepEqual([other.avail, other.jobs.length, other.slots], [0, 0, 0]);
    } finally {
      await db.close();
    }
  },
);

dbTest(
  "a leased delivery that waited too long in the local queue is given back, not sent late",
  async () => {
    const db = await createTestDb("ahead_stale");
    const events = new AttemptLog();
    // Lease 8 s: a delivery may wait at most 2 s (a quarter of it) before it is sent.
    const leaseSeconds = 8;
    const margins: number[] = [];
    const slow: DeliveryKind = {
      name: AGGREGATE,
      async deliver(job) {
        margins.push(job.lockedUntil.getTime() - Date.now());
        await new Promise((r) => setTimeout(r, 1200));
        return DELIVERED;
      },
    };
    const limits = { name: "stale", maxConcurrent: 1, ratePerSecond: 0 };
    const w = worker(db.sql, slow, events, { limits, claimAhead: 6, leaseSeconds });
    try {
      await enqueueMany(db.sql, "stale", 5);
      w.start();
      await events.until((e) => e.filter((x) => x.outcome === "delivered").length === 5, 60_000);
      // Every request started with at least three quarters of its lease left (the clocks are
      // one machine's; 0.5 s of slack for a loaded one).
      assert.equal(margins.length, 5);
      for (const m of margins) assert.ok(m >= leaseSeconds * 750 - 500, JSON.stringify(margins));
      // The ones given back did not use an attempt: one attempt each.
      const rows = await db
        .sql`select attempts, count(*)::int as n from deliveries group by attempts`;
      assert.deepEqual([...rows], [{ attempts: 1, n: 5 }]);
    } finally {
      await w.stop(5000);
      await db.close();
    }
  },
);

dbTest("a delivery leased ahead is not sent after the delivery window closes", async () => {
  const db = await createTestDb("ahead_window");
  const probe = new Probe(0, true);
  const events = new AttemptLog();
  const limits = { name: "win", maxConcurrent: 2, ratePerSecond: 0 };
  let now = new Date("2026-03-02T10:00:00Z");
  const w = worker(db.sql, probe, events, {
    limits,
    claimAhead: 10,
    // The loop does not look on its own during the test: only a freed slot wakes it.
    pollIntervalMs: 60_000,
    now: () => now,
    window: { window: { start: 9 * 60, end: 11 * 60 }, timeZone: "UTC" },
  });
  try {
    await enqueueMany(db.sql, "win", 20);
    w.start();
    const deadline = Date.now() + 20_000;
    let running = 0;
    while (Date.now() < deadline) {
      [{ running }] = await db.sql<{ running: number }[]>`
        select count(*)::int as running from deliveries where status = 'running'`;
      if (probe.inFlight === 2 && running === 10) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(running, 10);
    // The window closes while two requests are in flight and eight wait in the local queue:
    // the two finish, the eight go back to the queue unsent, their attempt given back.
    now = new Date("2026-03-02T11:30:00Z");
    probe.open();
    const until = Date.now() + 20_000;
    let rows: { status: string; attempts: number; n: number }[] = [];
    while (Date.now() < until) {
      rows = [
        ...await db.sql<{ status: string; attempts: number; n: number }[]>`
        select status, attempts, count(*)::int as n from deliveries
        group by status, attempts order by status`,
      ];
      if (!rows.some((r) => r.status === "running")) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(probe.seen.size, 2, "no delivery started after the window closed");
    assert.deepEqual(rows, [
      { status: "delivered", attempts: 1, n: 2 },
      { status: "queued", attempts: 0, n: 18 },
    ]);
  } finally {
    await w.stop(1000);
    await db.close();
  }
});

dbTest("an open circuit does not spin a worker that claims ahead: timers still fire", async () => {
  const db = await createTestDb("ahead_circuit");
  const down: DeliveryKind = {
    name: AGGREGATE,
    deliver: () =>
      Promise.resolve({
        kind: "retry",
        facts: {
          httpStatus: 503,
          remoteStatus: null,
          counts: null,
          conflicts: null,
          response: null,
        },
        error: "DHIS2 is down",
        credentialProblem: false,
      }),
  };
  const events = new AttemptLog();
  const limits = { name: "down", maxConcurrent: 2, ratePerSecond: 0 };
  const w = worker(db.sql, down, events, {
    limits,
    claimAhead: 10,
    breakerOptions: { failureThreshold: 2, cooldownMs: 3_000 },
  });
  try {
    await enqueueMany(db.sql, "down", 20);
    w.start();
    await events.until((e) => e.filter((x) => x.outcome === "retry").length >= 2, 20_000);
    // The circuit is open for 3 s now. A worker that woke itself in a loop without I/O would
    // starve every timer and socket of the process (the HTTP server's too) until it closed.
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 50));
    const late = performance.now() - t0 - 50;
    assert.ok(late < 1_000, `a 50 ms timer fired ${Math.round(late)} ms late`);
  } finally {
    await w.stop(1000);
    await db.close();
  }
});
