/**
 * The lone delivery path in fewer round trips (issue 18). Group commit of outcomes
 * (src/queue/outcome_writer.ts): deliveries that finish together are recorded by one statement
 * (one transaction: their rows share an xmin and a finished_at), each still fenced by its own
 * lease, the attempt history intact, and a row PostgreSQL refuses does not keep the others of
 * its group unrecorded. The claim says which deliveries may have newer written ones of their
 * key, so the look-up for them (attachNewer) runs only for those.
 */
import assert from "node:assert/strict";
import { captureLogger } from "../src/logs/logger.ts";
import type { ClaimedDelivery, DeliveryKind, Outcome } from "../src/queue/kind.ts";
import { claim, claimStatement, enqueue } from "../src/queue/queries.ts";
import { attachNewer } from "../src/queue/batch_queries.ts";
import { claimForDestination } from "../src/queue/destination_claim.ts";
import { Wakeup } from "../src/queue/wakeup.ts";
import { Worker } from "../src/queue/worker.ts";
import { MAX_WRITING, MAX_WRITING_AHEAD } from "../src/queue/outcome_writer.ts";
import { connect, type Sql } from "../src/db/db.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { AttemptLog } from "./support/submissions.ts";

const KIND = "group_test";
const N = 20;

async function store(sql: Sql, i: number, key = `k${i}`) {
  return await enqueue(sql, {
    userUid: "uGroup00001",
    username: "group",
    sourceName: "default",
    idempotencyKey: null,
    requestHash: String(i),
    orgUnit: `ou${i}`,
    orgUnitName: null,
    period: "202401",
    dataSet: "ds",
    kind: KIND,
    requestJson: "{}",
    payload: { i },
    codes: [],
    unmappedCodes: [],
    // Distinct keys: all N are due at once.
    deliveries: [{ destination: "default", kind: KIND, orderingKey: key, maxAttempts: 3 }],
  });
}

/** A kind whose sends all finish at the same moment, once every one of them has started. */
function gatedKind(outcomeOf: (d: ClaimedDelivery) => Outcome) {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let started = 0;
  let allStarted!: () => void;
  const everyOneStarted = new Promise<void>((r) => (allStarted = r));
  const kind: DeliveryKind = {
    name: KIND,
    async deliver(d) {
      if (++started === N) allStarted();
      await gate;
      return outcomeOf(d);
    },
  };
  return { kind, everyOneStarted, open: () => open() };
}

const delivered = (httpStatus = 200): Outcome => ({
  kind: "delivered",
  facts: {
    httpStatus,
    remoteStatus: "SUCCESS",
    counts: { imported: 1, updated: 0, ignored: 0, deleted: 0 },
    conflicts: null,
    response: null,
  },
});

function worker(sql: Sql, kind: DeliveryKind, events: AttemptLog) {
  return new Worker({
    sql,
    log: captureLogger().log,
    kinds: [kind],
    destination: "test",
    wakeup: new Wakeup(),
    maxConcurrent: N,
    leaseSeconds: 30,
    pollIntervalMs: 200,
    backoff: { baseSeconds: 1, maxSeconds: 5, jitter: 0 },
    onAttempt: events.push,
  });
}

dbTest(
  "a worker that claims ahead writes its outcomes one statement at a time, the rest together",
  async () => {
    const db = await createTestDb("q_ahead_writes", { max: 30 });
    // Each outcome statement takes 0.2 s; the 8 deliveries finish 30 ms apart meanwhile.
    await db.sql.unsafe(`
      create function slow_attempts() returns trigger language plpgsql as
        $$ begin perform pg_sleep(0.2); return null; end $$;
      create trigger slow_attempts after insert on delivery_attempts
        for each statement execute function slow_attempts();`);
    const events = new AttemptLog();
    const n = 8;
    const kind: DeliveryKind = {
      name: KIND,
      async deliver(d) {
        await new Promise((r) => setTimeout(r, 30 * (d.payload as { i: number }).i));
        return delivered();
      },
    };
    const w = new Worker({
      sql: db.sql,
      log: captureLogger().log,
      kinds: [kind],
      destination: "default",
      // No rate and no batching: this worker claims ahead (worker_ahead.ts).
      limits: { name: "default", maxConcurrent: n, ratePerSecond: 0 },
      wakeup: new Wakeup(),
      maxConcurrent: n,
      leaseSeconds: 30,
      pollIntervalMs: 200,
      backoff: { baseSeconds: 1, maxSeconds: 5, jitter: 0 },
      onAttempt: events.push,
    });
    try {
      for (let i = 0; i < n; i++) await store(db.sql, i);
      w.start();
      await events.until((e) => e.length === n);
      assert.ok(w.aheadStats, "the worker claims ahead");
      assert.deepEqual(events.events.map((e) => e.outcome), Array(n).fill("delivered"));
      // One write in flight: the first alone, then everything that finished while it ran, and
      // so on (about 3 statements); with several in flight each early finisher had its own.
      const [{ transactions }] = await db.sql<{ transactions: number }[]>`
        select count(distinct xmin::text)::int as transactions from delivery_attempts`;
      assert.equal(MAX_WRITING_AHEAD, 1);
      assert.ok(transactions <= 3, `${transactions} statements for ${n} outcomes`);
    } finally {
      await w.stop(5000);
      await db.close();
    }
  },
);

dbTest(
  "deliveries finishing together are recorded in a few transactions, each with its attempt",
  async () => {
    const db = await createTestDb("q_group_commit", { max: 30 });
    const events = new AttemptLog();
    const g = gatedKind(() => delivered());
    const w = worker(db.sql, g.kind, events);
    try {
      const ids = [];
      for (let i = 0; i < N; i++) ids.push((await store(db.sql, i)).id);
      w.start();
      await g.everyOneStarted;
      g.open();
      await events.until((e) => e.length === N);
      assert.deepEqual(events.events.map((e) => e.outcome), Array(N).fill("delivered"));
      const rows = await db.sql<{ status: string; attempts: number; locked_by: string | null }[]>`
      select status, attempts, locked_by from deliveries order by id`;
      assert.deepEqual(
        [...rows],
        Array(N).fill({ status: "delivered", attempts: 1, locked_by: null }),
      );
      const attempts = await db.sql<{ number: number; outcome: string; worker: string }[]>`
      select number, outcome, worker from delivery_attempts order by delivery_id`;
      assert.deepEqual(
        [...attempts],
        Array(N).fill({ number: 1, outcome: "delivered", worker: w.id }),
      );
      // A few transactions, not N: the first to finish are written at once (nothing waits),
      // at most MAX_WRITING statements run at a time, the rest ride in the next one.
      const [{ transactions, times }] = await db.sql<{ transactions: number; times: number }[]>`
      select count(distinct a.xmin::text)::int as transactions,
             count(distinct d.finished_at)::int as times
      from delivery_attempts a join deliveries d on d.id = a.delivery_id`;
      assert.ok(transactions <= MAX_WRITING + 1, `${transactions} transactions for ${N} outcomes`);
      assert.ok(times <= MAX_WRITING + 1, `${times} distinct finished_at for ${N} outcomes`);
    } finally {
      await w.stop(5000);
      await db.close();
    }
  },
);

dbTest(
  "in a group, a delivery whose lease was lost is fenced out and the others recorded",
  async () => {
    const db = await createTestDb("q_group_fence", { max: 30 });
    const events = new AttemptLog();
    const g = gatedKind(() => delivered());
    const w = worker(db.sql, g.kind, events);
    try {
      for (let i = 0; i < N; i++) await store(db.sql, i);
      w.start();
      await g.everyOneStarted;
      // The rescuer took the first one back and another worker claimed it meanwhile.
      await db.sql`update deliveries set locked_by = 'someone-else', attempts = attempts + 1
      where id = (select min(id) from deliveries)`;
      g.open();
      await events.until((e) => e.length === N);
      assert.deepEqual(
        events.events.map((e) => e.outcome).sort(),
        [...Array(N - 1).fill("delivered"), "fenced"],
      );
      const rows = await db.sql<{ status: string; n: number }[]>`
      select d.status, count(a.*)::int as n from deliveries d
      left join delivery_attempts a on a.delivery_id = d.id
      group by d.id order by d.id`;
      assert.deepEqual([...rows], [
        { status: "running", n: 0 },
        ...Array(N - 1).fill({ status: "delivered", n: 1 }),
      ]);
    } finally {
      await w.stop(5000);
      await db.close();
    }
  },
);

dbTest("a row PostgreSQL refuses does not keep the rest of its group unrecorded", async () => {
  const db = await createTestDb("q_group_poison", { max: 30 });
  const events = new AttemptLog();
  // An http_status no int column takes: that delivery's write fails, whoever carries it.
  const g = gatedKind((d) =>
    delivered(d.payload && (d.payload as { i: number }).i === 7 ? 1e12 : 200)
  );
  const w = worker(db.sql, g.kind, events);
  try {
    for (let i = 0; i < N; i++) await store(db.sql, i);
    w.start();
    await g.everyOneStarted;
    g.open();
    await events.until((e) => e.length === N - 1);
    const rows = await db.sql<{ i: number; status: string }[]>`
      select (s.payload->>'i')::int as i, d.status from deliveries d
      join submissions s on s.id = d.submission_id order by d.id`;
    assert.deepEqual(
      [...rows],
      Array.from({ length: N }, (_, i) => ({ i, status: i === 7 ? "running" : "delivered" })),
    );
    assert.equal(events.events.filter((e) => e.outcome === "delivered").length, N - 1);
  } finally {
    await w.stop(5000);
    await db.close();
  }
});

dbTest(
  "the claim says which deliveries have a newer written or running one of their key",
  async () => {
    const db = await createTestDb("q_has_newer");
    try {
      const a1 = await store(db.sql, 1, "kA");
      const a2 = await store(db.sql, 2, "kA");
      const b1 = await store(db.sql, 3, "kB");
      const c1 = await store(db.sql, 4, "kC");
      const c2 = await store(db.sql, 5, "kC");
      const d1 = await store(db.sql, 6, "kD");
      // By hand (as a requeue of an older one, or the insert race, leaves them): a newer one of
      // kA delivered, a newer one of kC running.
      await db.sql`update deliveries set status = 'delivered', held = false, finished_at = now()
      where submission_id = ${a2.id}`;
      await db.sql`update deliveries set status = 'running', held = false, attempts = 1,
      locked_by = 'other', locked_until = now() + interval '1 minute'
      where submission_id = ${c2.id}`;
      const mine = await claim(db.sql, "w1", 2, 30);
      const theirs = await claimForDestination(
        db.sql,
        { name: "default", maxConcurrent: 10, ratePerSecond: 0 },
        "w2",
        10,
        30,
      );
      const seen = [...mine, ...theirs.jobs].map((j) => [j.submissionId, j.hasNewer]);
      assert.deepEqual(seen, [[a1.id, true], [b1.id, false], [c1.id, true], [d1.id, false]]);
      const jobs = [...mine, ...theirs.jobs];
      await attachNewer(db.sql, jobs);
      assert.deepEqual(
        jobs.map((j) => [j.submissionId, j.newer?.map((n) => n.submissionId)]),
        [[a1.id, [a2.id]], [b1.id, undefined], [c1.id, undefined], [d1.id, undefined]],
      );
    } finally {
      await db.close();
    }
  },
);

dbTest(
  "the claim's look for newer deliveries probes the key indexes, not every newer row",
  async () => {
    const db = await createTestDb("q_has_newer_plan");
    try {
      // 20,000 deliveries of distinct keys, most delivered, the newest queued.
      await db.sql`
      insert into submissions (user_uid, username, source_name, request_hash, org_unit, period,
        data_set, kind, request, payload, codes, status, finished_at)
      select 'u', 'user', 'default', i::text, 'ou' || i, '202401', 'ds', 'aggregate', '{}',
             '{"dataValues":[]}', '{}', case when i > 19000 then 'queued' else 'delivered' end,
             case when i <= 19000 then now() end
      from generate_series(1, 20000) i`;
      await db.sql`
      insert into deliveries (submission_id, destination, kind, ordering_key, status,
        max_attempts, finished_at)
      select id, 'default', 'aggregate', org_unit || '|' || period, status, 9, finished_at
      from submissions order by id`;
      await db.sql`analyze deliveries`;
      await db.sql`analyze submissions`;
      const rows = await db.sql`explain ${claimStatement(db.sql, "w", 8, 60)}`;
      const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
      assert.match(plan, /deliveries_written_key_idx/, plan);
      assert.doesNotMatch(plan, /Seq Scan on deliveries|deliveries_pkey on deliveries n\b/, plan);
    } finally {
      await db.close();
    }
  },
);

dbTest("a destination claim that fails leaves its connection outside any transaction", async () => {
  const db = await createTestDb("q_claim_fails");
  const one = connect({ url: db.url, max: 1 });
  try {
    await store(db.sql, 1);
    // An integer parameter PostgreSQL cannot read: the claim statement fails after the lock.
    await assert.rejects(
      claimForDestination(
        one,
        { name: "default", maxConcurrent: 1.5, ratePerSecond: 0 },
        "w",
        1,
        30,
      ),
    );
    // The same (only) connection answers (inside the aborted transaction it would refuse
    // every statement) and, seen from another, is idle: no transaction, no row lock held.
    const [{ pid }] = await one<{ pid: number }[]>`select pg_backend_pid() as pid`;
    const [{ state }] = await db.sql<{ state: string }[]>`
      select state from pg_stat_activity where pid = ${pid}`;
    assert.equal(state, "idle");
    const got = await claimForDestination(
      db.sql,
      { name: "default", maxConcurrent: 1, ratePerSecond: 0 },
      "w",
      1,
      30,
    );
    assert.equal(got.jobs.length, 1);
  } finally {
    await one.end({ timeout: 5 });
    await db.close();
  }
});
