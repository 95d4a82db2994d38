/**
 * Batching (issue 13 part 2): many queued submissions of one data set go as one dataValueSets
 * import, and each still gets its own outcome: conflicts by their `indexes`, unattributable
 * replies split down to the submission at fault, an ERROR with indexes final per value.
 */
import assert from "node:assert/strict";
import { claimBatch } from "../src/queue/batch_queries.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { AttemptLog, testWorker } from "./support/submissions.ts";
import { ANC, deliveries, GHOST, store } from "./support/batches.ts";

const posts = (sim: { received: Array<{ path: string; body: unknown }> }) =>
  sim.received.filter((r) => r.path === "/api/dataValueSets")
    .map((r) => r.body as { dataSet?: string; dataValues: Array<Record<string, string>> });

const finished = (n: number) => (e: Array<{ outcome: string }>) =>
  e.filter((x) => x.outcome !== "retry" && x.outcome !== "snoozed").length >= n;

dbTest(
  "1,000 submissions, 3 with codes DHIS2 refuses: 4 imports, exactly those 3 partial",
  async () => {
    const db = await createTestDb("batch_thousand");
    const sim = await startSimulator();
    const events = new AttemptLog();
    const worker = testWorker(db.sql, sim, events, { batch: { maxValues: 500, maxWaitMs: 0 } });
    try {
      const bad = new Set([17, 480, 903]);
      const ids: number[] = [];
      for (let i = 0; i < 1000; i++) {
        // 1,000 (org unit, period) keys: the data set's 2 org units × 500 months from 1970.
        const orgUnit = ["DiszpKrYNg8", "ouBaomaCHC1"][i % 2];
        const n = i >> 1;
        const period = `${1970 + Math.floor(n / 12)}${String(1 + n % 12).padStart(2, "0")}`;
        const second = bad.has(i)
          ? { code: "GHOST", dataElement: GHOST, value: "1" }
          : { code: "NETS", dataElement: "deNetsOk001", value: "true" };
        ids.push(
          (await store(db.sql, [{ code: "ANC1", dataElement: ANC, value: String(i) }, second], {
            period,
            orgUnit,
          })).id,
        );
      }
      worker.start();
      await events.until(finished(1000), 60_000);
      const sent = posts(sim);
      assert.equal(sent.length, 4, "1,000 × 2 values in imports of 500");
      for (const p of sent) {
        assert.equal(p.dataSet, "pBOMPrpg1QX");
        assert.equal(p.dataValues.length, 500);
        assert.ok(
          p.dataValues.every((v) => v.period && v.orgUnit),
          "period and org unit per value",
        );
      }
      const all = await deliveries(db.sql);
      const partial = all.filter((d) => d.status === "partial");
      assert.deepEqual(partial.map((d) => d.submissionId), [...bad].map((i) => ids[i]));
      for (const d of partial) {
        assert.equal(d.conflicts.length, 1);
        assert.deepEqual(d.conflicts[0].codes, ["GHOST"]);
        assert.deepEqual(d.conflicts[0].indexes, [1], "the index in its own payload");
        assert.equal(d.conflicts[0].errorCode, "E7610");
        assert.match(d.lastError!, /^DHIS2 refused 1 of 2 value\(s\) \(codes GHOST\): E7610/);
      }
      assert.equal(all.filter((d) => d.status === "delivered").length, 997);
      assert.ok(all.filter((d) => d.status === "delivered").every((d) => d.lastError === null));
      // Every attempt names its batch; four batches of 500 values.
      const batches = await db.sql`
      select b.value_count, b.deliveries, b.result, count(a.*)::int as attempts
      from delivery_batches b join delivery_attempts a on a.batch_id = b.id
      group by b.id order by b.started_at`;
      assert.deepEqual(
        batches.map((b) => [b.value_count, b.deliveries, b.result, b.attempts]),
        Array(4).fill([500, 250, "attributed", 250]),
      );
      assert.equal(sim.dataValues().length, 1997);
    } finally {
      await worker.stop(5000);
      await sim.stop();
      await db.close();
    }
  },
);

dbTest("an ERROR without conflicts is split until only the bad submission is left", async () => {
  const db = await createTestDb("batch_split");
  const sim = await startSimulator();
  const events = new AttemptLog();
  const worker = testWorker(db.sql, sim, events, { batch: { maxValues: 5000, maxWaitMs: 0 } });
  try {
    // Any import that carries the value 666 fails inside DHIS2 (2.38–2.42's catch-all).
    sim.injectFaults([{
      path: "/api/dataValueSets",
      times: Infinity,
      when: (b) => JSON.stringify(b).includes('"666"'),
      status: 409,
      body: {
        httpStatus: "Conflict",
        httpStatusCode: 409,
        status: "ERROR",
        message: "An error occurred, please check import summary.",
        response: {
          responseType: "ImportSummary",
          status: "ERROR",
          description: "The import process failed: ERROR: value too long for type",
          importCount: { imported: 0, updated: 0, ignored: 0, deleted: 0 },
          conflicts: [],
        },
      },
    }]);
    const ids: number[] = [];
    for (let i = 0; i < 8; i++) {
      const value = i === 5 ? "666" : String(i);
      ids.push(
        (await store(db.sql, [{ code: "ANC1", dataElement: ANC, value }], {
          period: `2020${String(i + 1).padStart(2, "0")}`,
          maxAttempts: 1,
        })).id,
      );
    }
    worker.start();
    await events.until(finished(8));
    // 8 → 4 (fine) + 4 → 2 → (1 + 1), then the other 2: seven imports, one of them the bad
    // submission alone.
    const sent = posts(sim);
    assert.deepEqual(sent.map((p) => p.dataValues.length), [8, 4, 4, 2, 1, 1, 2]);
    assert.deepEqual(sent[5].dataValues.map((v) => v.value), ["666"]);
    const all = await deliveries(db.sql);
    assert.deepEqual(
      all.map((d) => d.status),
      [
        "delivered",
        "delivered",
        "delivered",
        "delivered",
        "delivered",
        "dead",
        "delivered",
        "delivered",
      ],
    );
    assert.match(all[5].lastError!, /gave up after 1 attempt\(s\): The import process failed/);
    // The bad one's attempt names its own one-submission batch, three splits below the first.
    const [chain] = await db.sql`
      with recursive up as (
        select b.id, b.parent_id, b.deliveries, b.result, 0 as depth
        from delivery_attempts a join deliveries d on d.id = a.delivery_id
        join delivery_batches b on b.id = a.batch_id
        where d.submission_id = ${ids[5]}
        union all
        select p.id, p.parent_id, p.deliveries, p.result, up.depth + 1
        from delivery_batches p join up on p.id = up.parent_id
      )
      select array_agg(deliveries order by depth) as sizes, array_agg(result order by depth) as results
      from up`;
    assert.deepEqual(chain.sizes, [1, 2, 4, 8]);
    assert.deepEqual(chain.results, ["failed", "split", "split", "split"]);
    assert.equal(sim.dataValues().length, 7);
  } finally {
    await worker.stop(5000);
    await sim.stop();
    await db.close();
  }
});

dbTest("2.43's ERROR with indexes is final per value: one import, no split", async () => {
  const db = await createTestDb("batch_error_indexes");
  const sim = await startSimulator({ version: "2.43" });
  const events = new AttemptLog();
  const worker = testWorker(db.sql, sim, events, { batch: { maxValues: 5000, maxWaitMs: 0 } });
  try {
    for (let i = 0; i < 3; i++) {
      await store(db.sql, [{ code: `G${i}`, dataElement: GHOST, value: "1" }], {
        period: `2021${String(i + 1).padStart(2, "0")}`,
      });
    }
    worker.start();
    await events.until(finished(3));
    assert.equal(posts(sim).length, 1);
    const all = await deliveries(db.sql);
    assert.deepEqual(all.map((d) => d.status), ["rejected", "rejected", "rejected"]);
    assert.deepEqual(all.map((d) => d.conflicts.map((c) => c.codes)), [[["G0"]], [["G1"]], [[
      "G2",
    ]]]);
    assert.deepEqual(all.map((d) => d.conflicts[0].indexes), [[0], [0], [0]]);
  } finally {
    await worker.stop(5000);
    await sim.stop();
    await db.close();
  }
});

dbTest(
  "batch.max_wait_ms: a light batch waits for its head to age; a full one goes at once",
  async () => {
    const db = await createTestDb("batch_max_wait");
    try {
      await store(db.sql, [{ code: "ANC1", dataElement: ANC, value: "1" }], { period: "202001" });
      await store(db.sql, [{ code: "ANC1", dataElement: ANC, value: "2" }], { period: "202002" });
      const wait = { maxValues: 5000, maxWaitMs: 60_000 };
      assert.deepEqual(await claimBatch(db.sql, "w", wait, 60), [], "2 values of 5,000: waits");
      // Two values fill a batch of two: no reason to wait.
      const full = await claimBatch(db.sql, "w", { ...wait, maxValues: 2 }, 60);
      assert.deepEqual(full.map((j) => j.submissionId), [1, 2]);
      await store(db.sql, [{ code: "ANC1", dataElement: ANC, value: "3" }], { period: "202003" });
      await db
        .sql`update deliveries set run_at = now() - interval '61 seconds' where status = 'queued'`;
      const aged = await claimBatch(db.sql, "w", wait, 60);
      assert.deepEqual(aged.map((j) => j.submissionId), [3], "its head is old enough");
    } finally {
      await db.close();
    }
  },
);
