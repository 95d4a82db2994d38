/**
 * A destination's limits hold across replicas: several workers, each on its own connection
 * pool (a process each), never run more than the destination's max_concurrent deliveries at
 * once nor start more than its rate limit allows; a closed delivery window claims nothing.
 * The kind here is a stand-in that counts what is in flight: the limits are the queue's.
 */
import assert from "node:assert/strict";
import { AGGREGATE } from "../src/aggregate/kind.ts";
import { parseWindow } from "../src/config/delivery_window.ts";
import { connect, type Sql } from "../src/db/db.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { CircuitBreakers } from "../src/queue/circuit_breaker.ts";
import {
  destinationClaimStatement,
  type DestinationLimits,
} from "../src/queue/destination_claim.ts";
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

/** Counts deliveries in flight across every worker that shares it. */
class Probe implements DeliveryKind {
  readonly name = AGGREGATE;
  inFlight = 0;
  max = 0;
  starts: number[] = [];
  order: number[] = [];
  seen = new Map<number, number>();
  constructor(readonly holdMs: number) {}
  async deliver(job: { id: number }): Promise<Outcome> {
    this.starts.push(performance.now());
    this.order.push(job.id);
    this.seen.set(job.id, (this.seen.get(job.id) ?? 0) + 1);
    this.max = Math.max(this.max, ++this.inFlight);
    await new Promise((r) => setTimeout(r, this.holdMs));
    this.inFlight--;
    return DELIVERED;
  }
}

async function enqueueMany(
  sql: Sql,
  destination: string,
  n: number,
  samePeriod = false,
): Promise<void> {
  for (let i = 0; i < n; i++) {
    const period = periodOf(samePeriod ? 0 : i);
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
      // Distinct periods: distinct ordering keys, so FIFO does not serialise them.
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
  opts: Partial<WorkerOptions> & { limits?: DestinationLimits },
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

dbTest("four workers on four pools never run more than max_concurrent at once", async () => {
  const db = await createTestDb("dest_concurrency");
  const pools = Array.from({ length: 4 }, () => connect({ url: db.url, max: 3 }));
  const probe = new Probe(30);
  const events = new AttemptLog();
  const limits = { name: "slow", maxConcurrent: 3, ratePerSecond: 0 };
  const workers = pools.map((sql) => worker(sql, probe, events, { limits }));
  try {
    await enqueueMany(db.sql, "slow", 60);
    await enqueueMany(db.sql, "other", 5);
    for (const w of workers) w.start();
    await events.until((e) => e.filter((x) => x.outcome === "delivered").length === 60, 60_000);
    // Each process alone would allow 8; four of them 32.
    assert.equal(probe.max, 3);
    assert.equal(probe.seen.size, 60);
    assert.ok([...probe.seen.values()].every((n) => n === 1));
    // The scoped workers never touched another destination's deliveries.
    const [other] = await db.sql`
      select count(*)::int as n from deliveries where destination = 'other' and status = 'queued'`;
    assert.equal(other.n, 5);
    const [row] = await db.sql`select count(*)::int as n from destinations where name = 'slow'`;
    assert.equal(row.n, 1);
  } finally {
    await Promise.all(workers.map((w) => w.stop(5000)));
    await Promise.all(pools.map((p) => p.end()));
    await db.close();
  }
});

dbTest("the rate limit spaces starts across two workers: burst, then rate per second", async () => {
  const db = await createTestDb("dest_rate");
  const pools = Array.from({ length: 2 }, () => connect({ url: db.url, max: 3 }));
  const probe = new Probe(1);
  const events = new AttemptLog();
  const limits = { name: "rated", maxConcurrent: 50, ratePerSecond: 10 };
  const workers = pools.map((sql) => worker(sql, probe, events, { limits }));
  try {
    await enqueueMany(db.sql, "rated", 25);
    const t0 = performance.now();
    for (const w of workers) w.start();
    await events.until((e) => e.filter((x) => x.outcome === "delivered").length === 25, 60_000);
    const starts = [...probe.starts].sort((a, b) => a - b);
    // A full bucket of 10 goes at once; start i (0-based) needs i + 1 tokens, the 11th and
    // later ones 100 ms each. A loaded machine only makes them later: lower bounds only.
    for (let i = 10; i < starts.length; i++) {
      const due = (i + 1 - 10) * 100;
      assert.ok(starts[i] - t0 >= due - 30, `start ${i} at ${Math.round(starts[i] - t0)} ms`);
    }
    assert.equal(probe.seen.size, 25);
  } finally {
    await Promise.all(workers.map((w) => w.stop(5000)));
    await Promise.all(pools.map((p) => p.end()));
    await db.close();
  }
});

dbTest("outside its delivery window a destination claims nothing; inside it delivers", async () => {
  const db = await createTestDb("dest_window");
  const probe = new Probe(1);
  const events = new AttemptLog();
  let clock = new Date("2026-06-01T12:00:00Z");
  const wakeup = new Wakeup();
  const limits = { name: "night", maxConcurrent: 2, ratePerSecond: 0 };
  const w = worker(db.sql, probe, events, {
    limits,
    wakeup,
    now: () => clock,
    window: { window: parseWindow("18:00-06:00")!, timeZone: "Africa/Kampala" }, // UTC+3
  });
  try {
    await enqueueMany(db.sql, "night", 3);
    w.start();
    // 15:00 in Kampala: closed. Several polls pass without a claim.
    await new Promise((r) => setTimeout(r, 500));
    const [before] = await db.sql`
      select count(*)::int as n from deliveries where destination = 'night' and attempts > 0`;
    assert.equal(before.n, 0);
    assert.equal(probe.starts.length, 0);
    clock = new Date("2026-06-01T16:30:00Z"); // 19:30 there
    wakeup.wake();
    await events.until((e) => e.filter((x) => x.outcome === "delivered").length === 3);
    assert.equal(probe.seen.size, 3);
  } finally {
    await w.stop(5000);
    await db.close();
  }
});

dbTest(
  "a destination's own breaker settings: opens at its threshold, cools down its minimum",
  async () => {
    const db = await createTestDb("dest_breaker");
    const events = new AttemptLog();
    const breakers = new CircuitBreakers();
    const failing: DeliveryKind = {
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
          error: "HTTP 503",
          credentialProblem: false,
        }),
    };
    const limits = { name: "flaky", maxConcurrent: 1, ratePerSecond: 0 };
    const w = worker(db.sql, failing, events, {
      limits,
      breakers,
      breakerOptions: { failureThreshold: 2, cooldownMs: 7_000, maxCooldownMs: 20_000 },
    });
    try {
      await enqueueMany(db.sql, "flaky", 3);
      w.start();
      await events.until((e) => e.filter((x) => x.outcome === "retry").length === 2);
      const snap = breakers.get("flaky").snapshot(new Date());
      assert.equal(snap.state, "open");
      assert.equal(snap.cooldownMs, 7_000);
      assert.equal(snap.consecutiveFailures, 2);
      // Other destinations keep the defaults.
      assert.equal(breakers.get("other").snapshot(new Date()).cooldownMs, 30_000);
    } finally {
      await w.stop(5000);
      await db.close();
    }
  },
);

dbTest("FIFO per ordering key holds under the destination's claim, across workers", async () => {
  const db = await createTestDb("dest_fifo");
  const pools = Array.from({ length: 3 }, () => connect({ url: db.url, max: 3 }));
  const probe = new Probe(5);
  const events = new AttemptLog();
  const limits = { name: "ordered", maxConcurrent: 6, ratePerSecond: 0 };
  const workers = pools.map((sql) => worker(sql, probe, events, { limits }));
  try {
    await enqueueMany(db.sql, "ordered", 12, true); // one org unit and period: one key
    for (const w of workers) w.start();
    await events.until((e) => e.filter((x) => x.outcome === "delivered").length === 12);
    const ids = (await db.sql<{ id: number }[]>`
      select id from deliveries where destination = 'ordered' order by id`).map((r) => r.id);
    assert.deepEqual(probe.order, ids);
    assert.equal(probe.max, 1);
  } finally {
    await Promise.all(workers.map((w) => w.stop(5000)));
    await Promise.all(pools.map((p) => p.end()));
    await db.close();
  }
});

dbTest(
  "the destination claim reads its due index and the pending-key index, never the table",
  async () => {
    const db = await createTestDb("dest_plan");
    try {
      // 30,000 deliveries over three destinations, nearly all finished.
      await db.sql`
      insert into submissions (user_uid, username, source_name, request_hash, org_unit, period,
        data_set, kind, request, payload, codes, status, finished_at)
      select 'u', 'user', 'default', i::text, 'ou' || (i % 3000), '202401', 'ds', 'aggregate',
             '{}', '{"dataValues":[]}', '{}',
             case when i % 500 = 0 then 'queued' when i % 777 = 0 then 'running'
                  else 'delivered' end,
             case when i % 500 <> 0 and i % 777 <> 0 then now() end
      from generate_series(1, 30000) i`;
      await db.sql`
      insert into deliveries (submission_id, destination, kind, ordering_key, status,
        max_attempts, finished_at)
      select id, (array['default', 'programme', 'staging'])[1 + id % 3], 'aggregate',
             org_unit || '|' || period, status, 9, finished_at
      from submissions order by id`;
      await db.sql`insert into destinations (name) values ('programme')`;
      await db.sql`analyze deliveries`;
      await db.sql`analyze submissions`;
      const limits = { name: "programme", maxConcurrent: 4, ratePerSecond: 5 };
      const rows = await db.sql`explain ${destinationClaimStatement(db.sql, limits, "w", 8, 60)}`;
      const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
      assert.match(plan, /Index Scan using deliveries_due_dest_idx on deliveries d\b/, plan);
      // The running count reads only running rows (a few, by the limit): through
      // deliveries_running_idx (0020), or an index condition on the status.
      assert.match(plan, /deliveries_running_idx|Index Cond: \(status = 'running'::text\)/, plan);
      // FIFO per key probes the pending-key index.
      assert.match(plan, /deliveries_pending_key_idx/, plan);
      assert.doesNotMatch(plan, /Seq Scan on deliveries|Sort/, plan);
    } finally {
      await db.close();
    }
  },
);
