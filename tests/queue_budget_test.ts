/**
 * The retry budget: fixed on the row at enqueue (lowering server.max_retries spares work in
 * flight), the rescuer's exact boundary, and a requeue restarting the whole budget.
 */
import assert from "node:assert/strict";
import type { Sql } from "../src/db/db.ts";
import { DEFAULT_PASSWORD, DEFAULT_USERNAME, startSimulator } from "../src/simulator/simulator.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { CircuitBreakers } from "../src/queue/circuit_breaker.ts";
import { rescueExpired } from "../src/queue/queries.ts";
import { startDelivery } from "../src/queue/runner.ts";
import { dhis2Destination } from "../src/aggregate/destination.ts";
import { Wakeup } from "../src/queue/wakeup.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import {
  AttemptLog,
  body,
  createSubmissionsApp,
  fastForward,
  insertOne,
  testConfig,
  testWorker,
} from "./support/submissions.ts";

// deno-lint-ignore no-explicit-any
type Loose = Record<string, any>;

async function submit(t: Awaited<ReturnType<typeof createSubmissionsApp>>, b: unknown) {
  const res = await t.post(b);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).submission_id as number;
}

async function state(sql: Sql, id: number): Promise<Loose> {
  const [r] = await sql`
    select s.status, d.attempts, d.max_attempts, d.attempts_at_requeue
    from submissions s join deliveries d on d.submission_id = s.id
    where s.id = ${id}`;
  const attempts = await sql<{ number: number; outcome: string }[]>`
    select a.number, a.outcome
    from deliveries d join delivery_attempts a on a.delivery_id = d.id
    where d.submission_id = ${id}
    order by a.number`;
  return { ...r, log: attempts.map((a) => `${a.number}:${a.outcome}`) };
}

/** Polls the row (startDelivery's worker has no attempt hook) until `done` holds. */
async function waitFor(sql: Sql, id: number, done: (r: Loose) => boolean, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await state(sql, id);
    if (done(r)) return r;
    if (Date.now() > deadline) throw new Error(`timed out waiting; row is ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Drives a submission to a final status, making each retry due at once. */
async function settle(sql: Sql, id: number): Promise<Loose> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await waitFor(sql, id, (x) => x.status !== "running" && x.status !== "queued");
    if (r.status !== "retrying") return r;
    if (Date.now() > deadline) throw new Error(`never settled: ${JSON.stringify(r)}`);
    await fastForward(sql);
    await waitFor(sql, id, (x) => x.attempts > r.attempts);
  }
}

dbTest("max attempts is fixed at enqueue: lowering the setting spares work in flight", async () => {
  const db = await createTestDb("q_budget_fixed");
  const sim = await startSimulator();
  const before = await createSubmissionsApp(db, { DHIS2GW_MAX_RETRIES: "4" });
  const after = await createSubmissionsApp(db, { DHIS2GW_MAX_RETRIES: "1" });
  const { log } = captureLogger("warn");
  let delivery: Awaited<ReturnType<typeof startDelivery>> | undefined;
  try {
    // Accepted under max_retries 4 (5 attempts); three of them already failed.
    const old = await submit(before, body({ ANC1: 1 }, { period: "202401" }));
    await db
      .sql`update deliveries set attempts = 3, status = 'retrying' where submission_id = ${old}`;
    sim.injectFaults([{ path: "/api/dataValueSets", status: 503, body: "busy", times: 1 }]);
    // The process restarts with the setting lowered to 1 (2 attempts).
    const config = testConfig({
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: DEFAULT_USERNAME,
      DHIS2GW_DHIS2_PASSWORD: DEFAULT_PASSWORD,
      DHIS2GW_MAX_RETRIES: "1",
      DHIS2GW_RETRY_BACKOFF_BASE: "1",
      DHIS2GW_REQUEST_PROCESS_INTERVAL: "1",
    });
    delivery = await startDelivery({
      config,
      sql: db.sql,
      log,
      wakeup: new Wakeup(),
      breakers: new CircuitBreakers({ failureThreshold: 1000 }),
      destination: dhis2Destination(config),
    });
    // Attempt 4 of 5 fails and is retried, not dead; attempt 5 is delivered.
    assert.deepEqual(await settle(db.sql, old), {
      status: "delivered",
      attempts: 5,
      max_attempts: 5,
      attempts_at_requeue: 0,
      log: ["4:retry", "5:delivered"],
    });

    // Accepted under the lowered setting: two attempts, both failing, then dead.
    sim.injectFaults([{ path: "/api/dataValueSets", status: 503, body: "busy", times: 2 }]);
    const fresh = await submit(after, body({ ANC1: 2 }, { period: "202402" }));
    assert.deepEqual(await settle(db.sql, fresh), {
      status: "dead",
      attempts: 2,
      max_attempts: 2,
      attempts_at_requeue: 0,
      log: ["1:retry", "2:dead"],
    });
  } finally {
    await delivery?.stop(5000);
    await before.close();
    await after.close();
    await sim.stop();
    await db.close();
  }
});

dbTest("the rescuer's boundary: a lost attempt max-1 is retried, the max-th is dead", async () => {
  const db = await createTestDb("q_budget_rescue");
  try {
    // [attempts, attempts_at_requeue] of a row allowed 5 attempts, each leased and expired.
    const cases: Array<[number, number]> = [[4, 0], [5, 0], [7, 3], [8, 3], [1, 0]];
    const ids: number[] = [];
    for (const [i, [attempts, atRequeue]] of cases.entries()) {
      const { id } = await insertOne(db.sql, i, undefined, 5);
      await db.sql`
        update deliveries
        set status = 'running', attempts = ${attempts}, attempts_at_requeue = ${atRequeue},
            locked_by = 'gone', locked_until = now() - interval '1 second'
        where submission_id = ${id}`;
      ids.push(id);
    }
    const rescued = await rescueExpired(db.sql);
    const byId = new Map(rescued.map((r) => [r.submissionId, [r.attempt, r.status]]));
    assert.deepEqual(ids.map((id) => byId.get(id)), [
      [4, "retrying"], // 4 of 5 used: one left
      [5, "dead"], // 5 of 5 used
      [7, "retrying"], // 4 of 5 since the requeue
      [8, "dead"], // 5 of 5 since the requeue
      [1, "retrying"],
    ]);
    const rows = await db.sql`
      select status, finished_at is not null as finished from submissions order by id`;
    assert.deepEqual(rows.map((r) => [r.status, r.finished]), [
      ["retrying", false],
      ["dead", true],
      ["retrying", false],
      ["dead", true],
      ["retrying", false],
    ]);
  } finally {
    await db.close();
  }
});

dbTest("a requeue gives a dead submission its full budget again, exactly", async () => {
  const db = await createTestDb("q_budget_requeue");
  const sim = await startSimulator();
  const t = await createSubmissionsApp(db, { DHIS2GW_MAX_RETRIES: "2" });
  const events = new AttemptLog();
  // Six failures in a row would open a default breaker and pause the test's claims.
  const breakers = new CircuitBreakers({ failureThreshold: 1000 });
  const worker = testWorker(db.sql, sim, events, { breakers });
  /** Waits for each attempt of `id`, making every retry due at once, until it is final. */
  const untilFinal = async (id: number) => {
    for (;;) {
      const seen = events.events.filter((e) => e.id === id).length;
      await events.until((e) => e.filter((x) => x.id === id).length > seen);
      const last = events.events.filter((e) => e.id === id).at(-1)!;
      if (last.status !== "retrying") return;
      await fastForward(db.sql);
    }
  };
  try {
    sim.injectFaults([{ path: "/api/dataValueSets", status: 503, body: "busy", times: 6 }]);
    worker.start();
    const id = await submit(t, body({ ANC1: 7 }));
    await untilFinal(id);
    assert.deepEqual(await state(db.sql, id), {
      status: "dead",
      attempts: 3,
      max_attempts: 3,
      attempts_at_requeue: 0,
      log: ["1:retry", "2:retry", "3:dead"],
    });
    const res = await t.app.request(`/api/v3/logs/${id}/requeue`, {
      method: "POST",
      headers: t.users.admin.headers.token,
    });
    assert.equal(res.status, 200);
    await untilFinal(id);
    // Three more attempts, not one: the budget restarted at the requeue.
    assert.deepEqual(await state(db.sql, id), {
      status: "dead",
      attempts: 6,
      max_attempts: 3,
      attempts_at_requeue: 3,
      log: ["1:retry", "2:retry", "3:dead", "4:retry", "5:retry", "6:dead"],
    });
    assert.equal(sim.received.filter((r) => r.path === "/api/dataValueSets").length, 6);
  } finally {
    await worker.stop(5000);
    await t.close();
    await sim.stop();
    await db.close();
  }
});
