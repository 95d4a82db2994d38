/**
 * Claim exclusivity and the queue's SQL transitions with several real connections: two workers
 * on separate pools and 2,000 submissions → the simulator receives each exactly once.
 */
import assert from "node:assert/strict";
import { connect, type Sql } from "../src/db/db.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { captureLogger } from "../src/logs/logger.ts";
import {
  CHANNEL,
  claim,
  claimStatement,
  recordAttempt,
  rescueExpired,
  snooze,
} from "../src/queue/queries.ts";
import { listenForWork, Wakeup, WorkNotifier } from "../src/queue/wakeup.ts";
import { claimBatchStatement } from "../src/queue/batch_queries.ts";
import { filterSql } from "../src/submissions/filters.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { AttemptLog, DELIVERED, insertOne, testWorker } from "./support/submissions.ts";

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

const times = () => ({ startedAt: new Date(), finishedAt: new Date(), durationMs: 1 });

dbTest("two workers on separate pools deliver 2,000 submissions exactly once", async () => {
  const db = await createTestDb("q_two_workers");
  const sim = await startSimulator();
  const pools: Sql[] = [connect({ url: db.url, max: 6 }), connect({ url: db.url, max: 6 })];
  const events = new AttemptLog();
  const { log } = captureLogger("warn");
  const wakeups = [new Wakeup(), new Wakeup()];
  const listeners = await Promise.all(pools.map((p, i) => listenForWork(p, wakeups[i], log)));
  const workers = pools.map((sql, i) =>
    testWorker(sql, sim, events, {
      workerId: `w${i}`,
      wakeup: wakeups[i],
      maxConcurrent: 8,
      // A poll far beyond the test: every claim after the first is driven by NOTIFY or by
      // finished deliveries, which is what this test is about.
      pollIntervalMs: 60_000,
    })
  );
  const N = 2000;
  try {
    for (const w of workers) w.start();
    const started = performance.now();
    // Insert from a third pool in batches of 100 transactions each, while the workers run,
    // waking them as the submission route does: a coalesced NOTIFY after each commit.
    const notifier = new WorkNotifier(db.sql, log);
    for (let i = 0; i < N; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, async (_, j) => {
          await db.sql.begin((tx) => insertOne(tx, i + j));
          notifier.notify();
        }),
      );
    }
    await notifier.close();
    await events.until((e) => e.length >= N, 120_000);
    const seconds = (performance.now() - started) / 1000;

    const posted = sim.received.filter((r) => r.path === "/api/dataValueSets");
    const markers = posted.map((r) =>
      (r.body as { dataValues: Array<{ value: string }> }).dataValues[0].value
    );
    assert.equal(posted.length, N);
    assert.equal(new Set(markers).size, N);
    const [agg] = await db.sql`
      select count(*)::int as n, count(*) filter (where s.status = 'delivered')::int as delivered,
             max(d.attempts)::int as max_attempts, count(distinct d.locked_by)::int as holders
      from submissions s join deliveries d on d.submission_id = s.id`;
    assert.deepEqual(agg, { n: N, delivered: N, max_attempts: 1, holders: 0 });
    const perWorker = await db.sql`
      select worker, count(*)::int as n from delivery_attempts group by worker order by worker`;
    assert.equal(perWorker.length, 2, "both workers took part");
    assert.equal(perWorker[0].n + perWorker[1].n, N);
    console.log(
      `2 workers × 8 in flight: ${N} delivered in ${seconds.toFixed(1)} s ` +
        `(${(N / seconds).toFixed(0)}/s; split ${perWorker.map((w) => w.n).join("/")})`,
    );
  } finally {
    await Promise.all(workers.map((w) => w.stop(5000)));
    await Promise.all(listeners.map((l) => l.close()));
    await Promise.all(pools.map((p) => p.end()));
    await sim.stop();
    await db.close();
  }
});

dbTest(
  "WorkNotifier: the first NOTIFY at once, a burst coalesced, the last one never lost",
  async () => {
    const db = await createTestDb("q_notifier");
    const listener = connect({ url: db.url, max: 1 });
    const { log } = captureLogger("warn");
    const heard: number[] = [];
    const meta = await listener.listen(CHANNEL, () => heard.push(performance.now()));
    const notifier = new WorkNotifier(db.sql, log, 50);
    const until = async (n: number) => {
      const deadline = performance.now() + 5_000;
      while (heard.length < n && performance.now() < deadline) await delay(5);
    };
    try {
      const t0 = performance.now();
      notifier.notify();
      await until(1);
      assert.equal(heard.length, 1);
      assert.ok(heard[0] - t0 < 40, `an idle notifier sends at once (took ${heard[0] - t0} ms)`);

      // 1,000 requests over ~120 ms: one NOTIFY per 50 ms interval, not one each.
      const burstStart = performance.now();
      for (let i = 0; i < 1000; i++) {
        notifier.notify();
        if (i % 100 === 0) await delay(12);
      }
      const lastAsk = performance.now();
      await delay(200);
      const burst = heard.slice(1);
      assert.ok(burst.length >= 2 && burst.length <= 5, `coalesced into ${burst.length} NOTIFYs`);
      assert.ok(burst.at(-1)! >= lastAsk, "a NOTIFY follows the last request");
      for (let i = 1; i < burst.length; i++) {
        // Sent 50 ms apart; received with some scheduling jitter.
        assert.ok(burst[i] - burst[i - 1] >= 30, "at most one per interval");
      }
      assert.ok(burst[0] >= burstStart);

      // close() sends what is pending without waiting for the interval.
      const before = heard.length;
      notifier.notify();
      notifier.notify();
      await notifier.close();
      await until(before + 1);
      assert.equal(heard.length, before + 1);
    } finally {
      await meta.unlisten();
      await listener.end();
      await db.close();
    }
  },
);

dbTest("concurrent claims on many connections never hand out a row twice", async () => {
  const db = await createTestDb("q_claim_race");
  const pools = Array.from({ length: 6 }, () => connect({ url: db.url, max: 2 }));
  try {
    await db.sql.begin(async (tx) => {
      for (let i = 0; i < 300; i++) await insertOne(tx, i);
    });
    const claimed: number[] = [];
    await Promise.all(pools.map(async (p, w) => {
      for (;;) {
        const jobs = await claim(p, `w${w}`, 7, 60);
        if (!jobs.length) return;
        claimed.push(...jobs.map((j) => j.id));
      }
    }));
    assert.equal(claimed.length, 300);
    assert.equal(new Set(claimed).size, 300);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    await db.close();
  }
});

dbTest("a claimer skips rows another pool's open transaction holds, without waiting", async () => {
  const db = await createTestDb("q_skip_locked");
  // Two separate pools: two processes' workers.
  const [p1, p2] = [connect({ url: db.url, max: 2 }), connect({ url: db.url, max: 2 })];
  try {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push((await insertOne(db.sql, i)).id);
    let release!: () => void;
    const held = new Promise<void>((r) => release = r);
    let first!: (ids: number[]) => void;
    const claimedFirst = new Promise<number[]>((r) => first = r);
    // Worker 1 has claimed two rows and not committed yet: they are locked and still look
    // queued to every other snapshot.
    const tx1 = p1.begin(async (tx) => {
      first((await claim(tx, "w1", 2, 60)).map((j) => j.submissionId));
      await held;
    });
    try {
      assert.deepEqual(await claimedFirst, ids.slice(0, 2));
      // Worker 2 must get the other three at once. Without SKIP LOCKED it would wait for
      // worker 1's row locks: the lock timeout turns that wait into an error instead of a hang.
      // The bound is generous for a loaded machine; with SKIP LOCKED no lock is ever waited on.
      const second = await p2.begin(async (tx) => {
        await tx`set local lock_timeout = '5s'`;
        return (await claim(tx, "w2", 10, 60)).map((j) => j.submissionId);
      });
      assert.deepEqual(second, ids.slice(2));
    } finally {
      release();
      await tx1;
    }
    const owners = await db.sql`select locked_by from deliveries order by submission_id`;
    assert.deepEqual(owners.map((r) => r.locked_by), ["w1", "w1", "w2", "w2", "w2"]);
  } finally {
    await Promise.all([p1.end(), p2.end()]);
    await db.close();
  }
});

dbTest("claim order, lease, snooze without an attempt, fencing and rescue", async () => {
  const db = await createTestDb("q_sql");
  try {
    // Three ordering keys (periods), so FIFO per key holds none of them back; c gets 2 attempts.
    const a = await insertOne(db.sql, "a", "202401");
    const b = await insertOne(db.sql, "b", "202402");
    await db
      .sql`update deliveries set run_at = now() + interval '1 hour' where submission_id = ${b.id}`;
    const c = await insertOne(db.sql, "c", "202403", 2);
    await db
      .sql`update deliveries set run_at = now() - interval '1 hour' where submission_id = ${c.id}`;

    // Due rows only, oldest run_at first; the lease is set.
    const jobs = await claim(db.sql, "w1", 10, 30);
    assert.deepEqual(jobs.map((j) => j.submissionId), [c.id, a.id]);
    assert.ok(jobs.every((j) => j.attempt === 1));
    const [lease] = await db.sql`
      select s.status, d.status as delivery_status, d.locked_by,
             round(extract(epoch from d.locked_until - now())) as secs
      from submissions s join deliveries d on d.submission_id = s.id where s.id = ${a.id}`;
    assert.deepEqual(lease, {
      status: "running",
      delivery_status: "running",
      locked_by: "w1",
      secs: "30",
    });

    // Snooze gives the attempt back.
    const later = new Date(Date.now() + 60_000);
    assert.equal(await snooze(db.sql, jobs[1], "w1", later), true);
    const [s] = await db.sql`
      select s.status, d.attempts, d.locked_by
      from submissions s join deliveries d on d.submission_id = s.id where s.id = ${a.id}`;
    assert.deepEqual(s, { status: "queued", attempts: 0, locked_by: null });

    // Another worker's record, or a stale attempt number, changes nothing.
    assert.equal(
      await recordAttempt(db.sql, jobs[0], "w2", DELIVERED, { outcome: "delivered", ...times() }),
      false,
    );
    assert.equal(
      await recordAttempt(db.sql, { ...jobs[0], attempt: 9 }, "w1", DELIVERED, {
        outcome: "delivered",
        ...times(),
      }),
      false,
    );

    // The lease runs out: rescued to retrying with a lease_expired attempt (1 of 2 used).
    await db.sql`update deliveries set locked_until = now() - interval '1 second'`;
    const rescued = await rescueExpired(db.sql);
    assert.deepEqual(rescued.map((r) => [r.submissionId, r.status, r.lockedBy]), [
      [c.id, "retrying", "w1"],
    ]);
    assert.equal(
      await recordAttempt(db.sql, jobs[0], "w1", DELIVERED, { outcome: "delivered", ...times() }),
      false,
    );
    const again = await claim(db.sql, "w1", 1, 30);
    assert.deepEqual(again.map((j) => [j.submissionId, j.attempt]), [[c.id, 2]]);
    await db.sql`update deliveries set locked_until = now() - interval '1 second'`;
    // 2 of 2 used: dead.
    assert.deepEqual((await rescueExpired(db.sql)).map((r) => r.status), ["dead"]);
    const attempts = await db.sql`
      select a.number, a.outcome, a.worker
      from deliveries d join delivery_attempts a on a.delivery_id = d.id
      where d.submission_id = ${c.id}
      order by a.number`;
    assert.deepEqual(attempts.map((r) => [r.number, r.outcome, r.worker]), [
      [1, "lease_expired", "w1"],
      [2, "lease_expired", "w1"],
    ]);
  } finally {
    await db.close();
  }
});

dbTest("the claim uses the due index, and the list queries their filter indexes", async () => {
  const db = await createTestDb("q_plans");
  try {
    // 200,000 rows, nearly all finished, like a real table after months. Set-up, not the
    // subject: no statement timeout (a loaded CI machine needs more than 30 s for it).
    await db.sql.begin(async (tx) => {
      await tx`set local statement_timeout = 0`;
      await tx`
      insert into submissions (user_uid, username, source_name, request_hash, org_unit, period,
        data_set, kind, request, payload, codes, status, created_at, finished_at)
      select 'u' || (i % 50), 'user' || (i % 50), 'default', i::text,
             'ou' || lpad((i % 3000)::text, 9, '0'), (2020 + i % 5)::text || '01', 'ds' || (i % 20),
             'aggregate', '{}', '{"dataValues":[]}', '{}',
             case when i % 1000 = 0 then 'queued' when i % 97 = 0 then 'dead' else 'delivered' end,
             now() - make_interval(secs => i * 30),
             case when i % 1000 <> 0 then now() end
      from generate_series(1, 200000) i`;
      await tx`
      insert into deliveries (submission_id, kind, ordering_key, status, max_attempts,
        created_at, finished_at)
      select id, 'aggregate', org_unit || '|' || period, status, 9, created_at, finished_at
      from submissions order by id`;
    });
    await db.sql`analyze submissions`;
    await db.sql`analyze deliveries`;
    const plan = async (q: PromiseLike<readonly unknown[]>) =>
      ((await q) as Array<Record<string, string>>).map((r) => r["QUERY PLAN"]).join("\n");
    // The real claim statement, nested unexecuted in EXPLAIN (no copy of its SQL here): the
    // due rows come from the due index in claim order (no Sort), and FIFO per key probes the
    // pending-key index; neither reads the table.
    const claimPlan = await plan(db.sql`explain ${claimStatement(db.sql, "w", 8, 60)}`);
    assert.match(claimPlan, /Index Scan using deliveries_due_idx on deliveries d\b/, claimPlan);
    assert.match(claimPlan, /Index (Only )?Scan using deliveries_pending_key_idx/, claimPlan);
    // The submission's payload comes by primary key, one probe per claimed delivery.
    assert.match(claimPlan, /Index Scan using submissions_pkey on submissions s\b/, claimPlan);
    // The batch claim (issue 13): index ranges and primary keys only, never the whole table.
    const batchPlan = await plan(
      db.sql`explain ${claimBatchStatement(db.sql, "w", { maxValues: 5000, maxWaitMs: 0 }, 60)}`,
    );
    assert.doesNotMatch(batchPlan, /Seq Scan on (deliveries|submissions)\b/, batchPlan);
    // A destination's worker claims its own batches (destination_claim.ts): the same, by
    // deliveries_due_dest_idx.
    const ownPlan = await plan(
      db.sql`explain ${
        claimBatchStatement(db.sql, "w", { maxValues: 5000, maxWaitMs: 0 }, 60, "default")
      }`,
    );
    assert.doesNotMatch(ownPlan, /Seq Scan on (deliveries|submissions)\b/, ownPlan);
    assert.doesNotMatch(claimPlan, /Sort|Seq Scan/, claimPlan);

    const cases: Array<[string, RegExp]> = [
      ["true", /submissions_created_idx/],
      ["org_unit = 'ou000000042'", /submissions_org_unit_created_idx/],
      ["username = 'user7'", /submissions_username_created_idx|submissions_created_idx/],
      ["period = '202201'", /submissions_period_created_idx|submissions_created_idx/],
    ];
    for (const [where, index] of cases) {
      const p = await plan(db.sql.unsafe(
        `explain select id from submissions where ${where}
         order by created_at desc, id desc limit 20`,
      ));
      assert.match(p, index, `${where}:\n${p}`);
      assert.doesNotMatch(p, /Seq Scan/, `${where}:\n${p}`);
    }
    // The logs' status filter (filters.ts) finds a rare status through its deliveries (0020):
    // the submission's own status is in no index, so that its rewrites stay HOT.
    const deadPlan = await plan(db.sql`
      explain select id from submissions
      where ${filterSql(db.sql, { statuses: ["dead"] }, "UTC")}
      order by created_at desc, id desc limit 20`);
    assert.match(deadPlan, /deliveries_status_submission_idx/, deadPlan);
    assert.doesNotMatch(deadPlan, /Seq Scan/, deadPlan);
  } finally {
    await db.close();
  }
});

dbTest("a process's own NOTIFY does not wake its own worker again; other senders' do", async () => {
  const db = await createTestDb("q_notify_echo");
  const { log } = captureLogger("warn");
  const mine = new Wakeup();
  const listener = await listenForWork(db.sql, mine, log);
  const woken = () => mine.wait(300);
  try {
    // The listener's start wakes once (notifications missed while not listening).
    await mine.wait(5_000);
    // The submission route woke its worker in-process already; the echo would be a second,
    // empty claim per submission.
    const own = new WorkNotifier(db.sql, log, 10, mine.id);
    own.notify();
    await own.close();
    assert.equal(await woken(), "timeout");
    // Another process's submissions, and requeues or rescues (no sender), wake it.
    const other = new WorkNotifier(db.sql, log, 10, new Wakeup().id);
    other.notify();
    await other.close();
    assert.equal(await woken(), "wake");
    await db.sql`select pg_notify(${CHANNEL}, '')`;
    assert.equal(await woken(), "wake");
  } finally {
    await listener.close();
    await db.close();
  }
});
