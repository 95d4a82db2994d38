/**
 * The worker against the DHIS2 simulator over a real PostgreSQL: every outcome path, the retry
 * schedule really used, the circuit breaker pausing claims, lease rescue with fencing, and
 * graceful stop. Tests wait on the worker's attempt events, never on guessed sleeps.
 */
import assert from "node:assert/strict";
import { startSimulator } from "../src/simulator/simulator.ts";
import { CircuitBreakers } from "../src/queue/circuit_breaker.ts";
import { rescueOnce } from "../src/queue/maintenance.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { createDhis2Client, type Dhis2Result } from "../src/dhis2/client.ts";
import type { Sql } from "../src/db/db.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import {
  AttemptLog,
  body,
  createSubmissionsApp,
  fastForward,
  simulatorClient,
  testWorker,
} from "./support/submissions.ts";

async function submit(t: Awaited<ReturnType<typeof createSubmissionsApp>>, b: unknown) {
  const res = await t.post(b);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).submission_id as number;
}

// deno-lint-ignore no-explicit-any
type Loose = Record<string, any>;

/** The submission row and its attempts, loosely typed: tests assert on the columns. */
async function row(db: { sql: Sql }, id: number): Promise<Loose> {
  // The delivery's columns, then the submission's over them (id, status, timestamps).
  const [r] = await db.sql`
    select d.*, s.*, d.id as delivery_id
    from submissions s join deliveries d on d.submission_id = s.id where s.id = ${id}`;
  const attempts = await db.sql<Loose[]>`
    select number, outcome, http_status, dhis2_status, error, credential_problem, conflicts
    from delivery_attempts where delivery_id = ${r.delivery_id} order by number`;
  return { ...r, attemptRows: attempts };
}

dbTest(
  "a mapped submission reaches DHIS2 with exact UIDs and values and is delivered",
  async () => {
    const db = await createTestDb("q_delivered");
    const sim = await startSimulator();
    const t = await createSubmissionsApp(db);
    const events = new AttemptLog();
    const worker = testWorker(db.sql, sim, events);
    try {
      worker.start();
      const id = await submit(t, body({ ANC1: 1000000, MAL_M: 3, WEIGHT: 0.1 }));
      await events.until((e) => e.some((x) => x.id === id));
      const r = await row(db, id);
      assert.equal(r.status, "delivered");
      assert.equal(r.attempts, 1);
      assert.deepEqual([r.imported, r.updated, r.ignored, r.deleted], [3, 0, 0, 0]);
      assert.equal(r.http_status, 200);
      assert.equal(r.dhis2_status, "SUCCESS");
      assert.equal(r.locked_by, null);
      assert.ok(r.finished_at instanceof Date);
      assert.equal(r.response.status, "OK"); // api.save_response keeps the body
      assert.deepEqual(r.attemptRows.map((a: { outcome: string }) => a.outcome), ["delivered"]);
      const posts = sim.received.filter((q) => q.path === "/api/dataValueSets");
      assert.equal(posts.length, 1);
      assert.deepEqual(posts[0].body, r.payload);
      assert.deepEqual(
        sim.dataValues().map((v) => [v.dataElement, v.categoryOptionCombo, v.value]).sort(),
        [
          ["deMalCases1", "cocMale0001", "3"],
          ["deWeightKg1", "HllvX50cXC0", "0.1"],
          ["f7n9E0hX8qk", "HllvX50cXC0", "1000000"],
        ],
      );
    } finally {
      await worker.stop(5000);
      await t.close();
      await sim.stop();
      await db.close();
    }
  },
);

dbTest("503 twice, then delivered on the 3rd attempt, on the retry schedule", async () => {
  const db = await createTestDb("q_retry");
  const sim = await startSimulator();
  const t = await createSubmissionsApp(db);
  const events = new AttemptLog();
  // random 0.5 makes the jitter factor exactly 1: delays of 1 s then 2 s.
  const worker = testWorker(db.sql, sim, events, { random: () => 0.5 });
  try {
    sim.injectFaults([{ path: "/api/dataValueSets", status: 503, body: "busy", times: 2 }]);
    worker.start();
    const id = await submit(t, body({ ANC1: 2 }));
    const schedule: number[] = [];
    await events.until((e) => e.some((x) => x.id === id && x.attempt === 1));
    const r1 = await row(db, id);
    assert.equal(r1.status, "retrying");
    schedule.push(r1.run_at.getTime() - r1.updated_at.getTime());
    await events.until((e) => e.some((x) => x.id === id && x.attempt === 2));
    const r2 = await row(db, id);
    schedule.push(r2.run_at.getTime() - r2.updated_at.getTime());
    await events.until((e) => e.some((x) => x.id === id && x.attempt === 3));
    const r = await row(db, id);
    assert.equal(r.status, "delivered");
    assert.equal(r.attempts, 3);
    assert.deepEqual(
      r.attemptRows.map((
        a: { outcome: string; http_status: number },
      ) => [a.outcome, a.http_status]),
      [["retry", 503], ["retry", 503], ["delivered", 200]],
    );
    // nextRunAt(attempt, …) with base 1 s: 1 s after attempt 1, 2 s after attempt 2 (± the
    // few ms between the worker's clock reading and the database's now()).
    assert.ok(Math.abs(schedule[0] - 1000) < 150, `first delay ${schedule[0]} ms`);
    assert.ok(Math.abs(schedule[1] - 2000) < 150, `second delay ${schedule[1]} ms`);
  } finally {
    await worker.stop(5000);
    await t.close();
    await sim.stop();
    await db.close();
  }
});

dbTest("an ERROR summary is rejected after one attempt, never retried", async () => {
  const db = await createTestDb("q_rejected");
  const sim = await startSimulator();
  const t = await createSubmissionsApp(db);
  const events = new AttemptLog();
  const worker = testWorker(db.sql, sim, events);
  try {
    worker.start();
    // A well-formed UID the simulator does not know: E7600 aborts the import (ERROR, 409).
    const id = await submit(t, body({ ANC1: 2 }, { dataSet: "aaaaaaaaaaa" }));
    await events.until((e) => e.some((x) => x.id === id));
    const r = await row(db, id);
    assert.equal(r.status, "rejected");
    assert.equal(r.attempts, 1);
    assert.equal(r.http_status, 409);
    assert.equal(r.dhis2_status, "ERROR");
    assert.match(r.last_error, /E7600/);
    assert.equal(r.run_at <= r.finished_at, true);
    assert.deepEqual(r.attemptRows.map((a: { outcome: string }) => a.outcome), ["rejected"]);
  } finally {
    await worker.stop(5000);
    await t.close();
    await sim.stop();
    await db.close();
  }
});

dbTest("a WARNING with conflicts is partial and names the request codes at fault", async () => {
  const db = await createTestDb("q_partial");
  const sim = await startSimulator();
  const t = await createSubmissionsApp(db);
  const events = new AttemptLog();
  const worker = testWorker(db.sql, sim, events);
  try {
    worker.start();
    const id = await submit(t, body({ ANC1: 2, GHOST: 5, NETS: "maybe" }));
    await events.until((e) => e.some((x) => x.id === id));
    const r = await row(db, id);
    assert.equal(r.status, "partial");
    assert.equal(r.attempts, 1);
    assert.equal(r.dhis2_status, "WARNING");
    assert.deepEqual([r.imported, r.ignored], [1, 2]);
    const byCode = Object.fromEntries(
      r.conflicts.map((c: { codes: string[]; errorCode: string }) => [c.codes.join(), c.errorCode]),
    );
    assert.deepEqual(byCode, { GHOST: "E7610", NETS: "E7619" });
    assert.match(r.last_error, /codes GHOST, NETS/);
    assert.deepEqual(r.attemptRows[0].conflicts, r.conflicts);
  } finally {
    await worker.stop(5000);
    await t.close();
    await sim.stop();
    await db.close();
  }
});

dbTest("401 is a credential problem: retried on the long backoff, breaker counts it", async () => {
  const db = await createTestDb("q_401");
  const sim = await startSimulator();
  const t = await createSubmissionsApp(db);
  const events = new AttemptLog();
  const client = createDhis2Client({
    baseUrl: sim.url,
    auth: { method: "basic", username: "admin", password: "wrong" },
    connectTimeoutMs: 5000,
    timeoutMs: 5000,
  });
  const breakers = new CircuitBreakers({ failureThreshold: 1, cooldownMs: 60_000 });
  const worker = testWorker(db.sql, sim, events, { client, breakers, random: () => 0.5 });
  try {
    worker.start();
    const id = await submit(t, body({ ANC1: 2 }));
    await events.until((e) => e.some((x) => x.id === id));
    const r = await row(db, id);
    assert.equal(r.status, "retrying");
    assert.equal(r.credential_problem, true);
    assert.equal(r.http_status, 401);
    assert.match(r.last_error, /^destination credential problem/);
    // At least 5 minutes, whatever the configured 1 s base.
    const delay = r.run_at.getTime() - r.updated_at.getTime();
    assert.ok(Math.abs(delay - 300_000) < 500, `delay ${delay}`);
    assert.equal(breakers.get(client.apiUrl).state(new Date()), "open");
  } finally {
    await worker.stop(5000);
    await t.close();
    await sim.stop();
    await db.close();
  }
});

dbTest("out of retries is dead; a requeue restarts the budget and delivers", async () => {
  const db = await createTestDb("q_dead");
  const sim = await startSimulator();
  const t = await createSubmissionsApp(db, { DHIS2GW_MAX_RETRIES: "1" });
  const events = new AttemptLog();
  const worker = testWorker(db.sql, sim, events);
  try {
    sim.injectFaults([{ path: "/api/dataValueSets", reset: true, times: 2 }]);
    worker.start();
    const id = await submit(t, body({ ANC1: 2 }));
    await events.until((e) => e.some((x) => x.id === id && x.attempt === 1));
    await fastForward(db.sql);
    await events.until((e) => e.some((x) => x.id === id && x.attempt === 2));
    let r = await row(db, id);
    assert.equal(r.status, "dead");
    assert.match(r.last_error, /^gave up after 2 attempt\(s\)/);
    assert.deepEqual(r.attemptRows.map((a: { outcome: string }) => a.outcome), ["retry", "dead"]);

    const res = await t.app.request(`/api/v3/logs/${id}/requeue`, {
      method: "POST",
      headers: t.users.admin.headers.token,
    });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).requeued, true);
    await events.until((e) => e.some((x) => x.id === id && x.attempt === 3));
    r = await row(db, id);
    assert.equal(r.status, "delivered");
    assert.equal(r.attempts_at_requeue, 2);
    assert.equal(r.requeued_by, t.users.admin.username);
  } finally {
    await worker.stop(5000);
    await t.close();
    await sim.stop();
    await db.close();
  }
});

dbTest(
  "an open breaker stops claims; one probe goes after the cool-down, then the rest",
  async () => {
    const db = await createTestDb("q_breaker");
    const sim = await startSimulator();
    const t = await createSubmissionsApp(db);
    const events = new AttemptLog();
    const breakers = new CircuitBreakers({ failureThreshold: 1, cooldownMs: 700 });
    const worker = testWorker(db.sql, sim, events, { breakers, maxConcurrent: 4 });
    try {
      sim.injectFaults([{ path: "/api/dataValueSets", status: 502, times: 1 }]);
      worker.start();
      const a = await submit(t, body({ ANC1: 1 }));
      await events.until((e) => e.some((x) => x.id === a));
      const opened = Date.now();
      // Other periods: a waits for its retry, and FIFO per key would hold b and c behind it.
      const b = await submit(t, body({ ANC1: 2 }, { period: "202402" }));
      const c = await submit(t, body({ ANC1: 3 }, { period: "202403" }));
      await events.until((e) => [b, c].every((id) => e.some((x) => x.id === id)));
      const posts = sim.received.filter((q) => q.path === "/api/dataValueSets");
      // Nothing was sent while the circuit was open ...
      assert.equal(posts.length, 3);
      const firstAfter = Date.parse(posts[1].time);
      assert.ok(firstAfter - opened >= 600, `probe ${firstAfter - opened} ms after opening`);
      // ... and neither waiting submission paid an attempt for it.
      for (const id of [b, c]) {
        const r = await row(db, id);
        assert.equal(r.status, "delivered");
        assert.equal(r.attempts, 1);
      }
    } finally {
      await worker.stop(5000);
      await t.close();
      await sim.stop();
      await db.close();
    }
  },
);

dbTest("an expired lease is rescued; the stale worker's late result is fenced out", async () => {
  const db = await createTestDb("q_rescue");
  const sim = await startSimulator();
  const t = await createSubmissionsApp(db);
  const slow = new AttemptLog();
  const fast = new AttemptLog();
  let sent!: () => void;
  const posted = new Promise<void>((r) => sent = r);
  let release!: (v: Dhis2Result) => void;
  const hung = new Promise<Dhis2Result>((r) => release = r);
  const stuck = testWorker(db.sql, sim, slow, {
    workerId: "stuck",
    maxConcurrent: 1, // busy with the hung delivery, so it cannot re-claim the rescued row
    client: {
      apiUrl: "http://stuck.example/api",
      postDataValueSets: () => {
        sent();
        return hung;
      },
    },
  });
  const healthy = testWorker(db.sql, sim, fast, { workerId: "healthy" });
  try {
    stuck.start();
    const id = await submit(t, body({ ANC1: 9 }));
    await posted;
    healthy.start();
    // The lease runs out (made to, rather than waited for).
    await db.sql`update deliveries set locked_until = now() - interval '1 second'`;
    const { log } = captureLogger();
    assert.equal(await rescueOnce({ sql: db.sql, log }), 1);
    let r = await row(db, id);
    assert.equal(r.status, "retrying");
    assert.equal(r.attemptRows[0].outcome, "lease_expired");
    await fastForward(db.sql);
    await fast.until((e) => e.some((x) => x.id === id));
    release({ kind: "transport_error", error: "late", timedOut: true, durationMs: 1 });
    await slow.until((e) => e.some((x) => x.id === id));
    assert.equal(slow.events[0].outcome, "fenced");
    r = await row(db, id);
    assert.equal(r.status, "delivered");
    assert.deepEqual(
      r.attemptRows.map((a: { number: number; outcome: string }) => [a.number, a.outcome]),
      [[1, "lease_expired"], [2, "delivered"]],
    );
  } finally {
    await stuck.stop(100);
    await healthy.stop(5000);
    await t.close();
    await sim.stop();
    await db.close();
  }
});

dbTest("stop waits for the delivery in flight and records it", async () => {
  const db = await createTestDb("q_stop");
  const sim = await startSimulator();
  const t = await createSubmissionsApp(db);
  const events = new AttemptLog();
  const real = simulatorClient(sim);
  let sent!: () => void;
  const posted = new Promise<void>((r) => sent = r);
  const worker = testWorker(db.sql, sim, events, {
    client: {
      apiUrl: real.apiUrl,
      postDataValueSets: (p) => {
        sent();
        return real.postDataValueSets(p);
      },
    },
  });
  try {
    sim.injectFaults([{ path: "/api/dataValueSets", delayMs: 400 }]);
    worker.start();
    const id = await submit(t, body({ ANC1: 2 }));
    await posted;
    assert.deepEqual(await worker.stop(5000), { graceful: true });
    assert.equal((await row(db, id)).status, "delivered");
  } finally {
    await t.close();
    await sim.stop();
    await db.close();
  }
});
