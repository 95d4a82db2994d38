/**
 * Issue 10, item 2: a DHIS2 whose own database fails during the import ("The import process
 * failed: …", 2.38–2.42; the 2.43 pipeline's replies) is retried up to the budget, never
 * rejected for good; an ERROR with conflicts (E7600) stays final. The real worker against the
 * simulator over PostgreSQL; tests wait on the worker's attempt events.
 */
import assert from "node:assert/strict";
import { startSimulator } from "../src/simulator/simulator.ts";
import { DEADLOCK_MESSAGE, transientImportFailure } from "../src/simulator/simulator_faults.ts";
import type { Sql } from "../src/db/db.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import {
  AttemptLog,
  body,
  createSubmissionsApp,
  fastForward,
  testWorker,
} from "./support/submissions.ts";

// deno-lint-ignore no-explicit-any
type Loose = Record<string, any>;

async function row(sql: Sql, id: number): Promise<Loose> {
  const [r] = await sql`select * from submissions where id = ${id}`;
  const attempts = await sql<Loose[]>`
    select number, outcome, http_status, dhis2_status, error
    from submission_attempts where submission_id = ${id} order by number`;
  return { ...r, attemptRows: attempts };
}

type Setup = Awaited<ReturnType<typeof setUp>>;

async function setUp(label: string, maxRetries = 3) {
  const db = await createTestDb(label);
  const sim = await startSimulator({ version: "2.42" });
  // The budget is fixed on each submission when it is accepted (max_attempts).
  const t = await createSubmissionsApp(db, { DHIS2GW_MAX_RETRIES: String(maxRetries) });
  const events = new AttemptLog();
  const worker = testWorker(db.sql, sim, events);
  return { db, sim, t, events, worker };
}

async function tearDown(s: Setup) {
  await s.worker.stop(5000);
  await s.t.close();
  await s.sim.stop();
  await s.db.close();
}

async function submit(s: Setup, b: unknown): Promise<number> {
  const res = await s.t.post(b);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).submission_id as number;
}

/** Waits for attempt `n`, then makes the next one due at once (the schedule has its own tests). */
async function attemptDone(s: Setup, id: number, n: number) {
  await s.events.until((e) => e.some((x) => x.id === id && x.attempt === n));
  await fastForward(s.db.sql);
}

const outcomes = (r: Loose) =>
  r.attemptRows.map((a: Loose) => [a.outcome, a.http_status, a.dhis2_status]);

dbTest("2.42 'import process failed' twice, then delivered on the 3rd attempt", async () => {
  const s = await setUp("tr_twice");
  try {
    s.sim.injectFaults([transientImportFailure("2.42", { times: 2 })]);
    s.worker.start();
    const id = await submit(s, body({ ANC1: 7 }));
    await attemptDone(s, id, 1);
    await attemptDone(s, id, 2);
    await s.events.until((e) => e.some((x) => x.id === id && x.attempt === 3));
    const r = await row(s.db.sql, id);
    assert.equal(r.status, "delivered");
    assert.equal(r.attempts, 3);
    assert.equal(r.last_error, null);
    assert.deepEqual(outcomes(r), [
      ["retry", 409, "ERROR"],
      ["retry", 409, "ERROR"],
      ["delivered", 200, "SUCCESS"],
    ]);
    assert.equal(r.attemptRows[0].error, `The import process failed: ${DEADLOCK_MESSAGE}`);
    assert.deepEqual(s.sim.dataValues().map((v) => [v.dataElement, v.value]), [
      ["f7n9E0hX8qk", "7"],
    ]);
  } finally {
    await tearDown(s);
  }
});

dbTest(
  "2.42 'import process failed' every time: dead after the budget, DHIS2's text kept",
  async () => {
    const s = await setUp("tr_dead", 3);
    try {
      s.sim.injectFaults([transientImportFailure("2.42", { times: Infinity })]);
      s.worker.start();
      const id = await submit(s, body({ ANC1: 8 }));
      for (const n of [1, 2, 3]) await attemptDone(s, id, n);
      await s.events.until((e) => e.some((x) => x.id === id && x.attempt === 4));
      const r = await row(s.db.sql, id);
      assert.equal(r.status, "dead");
      assert.equal(r.attempts, 4); // max_retries 3 → 4 attempts
      assert.equal(
        r.last_error,
        `gave up after 4 attempt(s): The import process failed: ${DEADLOCK_MESSAGE}`,
      );
      assert.deepEqual(outcomes(r), [
        ["retry", 409, "ERROR"],
        ["retry", 409, "ERROR"],
        ["retry", 409, "ERROR"],
        ["dead", 409, "ERROR"],
      ]);
      const posts = s.sim.received.filter((q) => q.path === "/api/dataValueSets");
      assert.equal(posts.length, 4);
      assert.equal(s.sim.dataValues().length, 0);
    } finally {
      await tearDown(s);
    }
  },
);

dbTest("an ERROR with E7600 conflicts is rejected after one attempt", async () => {
  const s = await setUp("tr_e7600");
  try {
    s.worker.start();
    const id = await submit(s, body({ ANC1: 2 }, { dataSet: "aaaaaaaaaaa" }));
    await s.events.until((e) => e.some((x) => x.id === id));
    const r = await row(s.db.sql, id);
    assert.equal(r.status, "rejected");
    assert.equal(r.attempts, 1);
    assert.equal(
      r.last_error,
      "Import process was aborted: E7600 Data set not found or not accessible: `aaaaaaaaaaa`",
    );
    assert.deepEqual(outcomes(r), [["rejected", 409, "ERROR"]]);
    assert.equal(s.sim.received.filter((q) => q.path === "/api/dataValueSets").length, 1);
  } finally {
    await tearDown(s);
  }
});

dbTest("2.43 replies to a failed write are retried, then delivered", async () => {
  const s = await setUp("tr_243");
  try {
    s.sim.injectFaults([
      transientImportFailure("2.43", { shape: "swallowed" }),
      transientImportFailure("2.43", { shape: "persistence" }),
      transientImportFailure("2.43", { shape: "commit" }),
    ]);
    s.worker.start();
    const id = await submit(s, body({ ANC1: 5, MAL_M: 1 }));
    for (const n of [1, 2, 3]) await attemptDone(s, id, n);
    await s.events.until((e) => e.some((x) => x.id === id && x.attempt === 4));
    const r = await row(s.db.sql, id);
    assert.equal(r.status, "delivered");
    assert.deepEqual(outcomes(r), [
      ["retry", 200, "SUCCESS"],
      ["retry", 409, null],
      ["retry", 500, null],
      ["delivered", 200, "SUCCESS"],
    ]);
    assert.equal(
      r.attemptRows[0].error,
      "DHIS2 ignored 2 of 2 value(s) without a conflict: its write failed",
    );
    assert.equal(r.attemptRows[1].error, `DHIS2 answered HTTP 409: ${DEADLOCK_MESSAGE}`);
    assert.equal(r.attemptRows[2].error, `DHIS2 answered HTTP 500: ${DEADLOCK_MESSAGE}`);
  } finally {
    await tearDown(s);
  }
});
