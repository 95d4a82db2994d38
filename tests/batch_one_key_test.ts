/**
 * Many held deliveries of one ordering key (a burst of re-sends for one org unit and period,
 * what `deno task bench` posts): one batch claim takes them all with work linear in their
 * number. Its followers' FIFO check once probed every older row of the key per follower:
 * 5.9 s for one claim of 4,000 (2 cores), and a worker delivered nothing for its first 9 s.
 * Asserted on rows the plan reads, not on time, so a loaded machine cannot fail it.
 */
import assert from "node:assert/strict";
import {
  attachNewer,
  claimBatchStatement,
  inBatchOrder,
  SAYS_NEWER_UP_TO,
} from "../src/queue/batch_queries.ts";
import type { Db } from "../src/db/db.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { analyzedPlan, type PlanNode } from "./support/plans.ts";
import { ANC, store } from "./support/batches.ts";

const N = 1500;

/** Rows every node read and threw away, over all its loops. */
function removed(node: PlanNode): number {
  const own = (node["Rows Removed by Filter"] ?? 0) * (node["Actual Loops"] ?? 1);
  return own + (node.Plans ?? []).reduce((sum, p) => sum + removed(p), 0);
}

dbTest(
  "one batch claim takes every held delivery of one key, reading each row about once",
  async () => {
    const db = await createTestDb("batch_one_key");
    try {
      for (let i = 0; i < N; i += 50) {
        // Serially in groups: concurrent enqueues of one key could leave several un-held.
        for (let k = i; k < Math.min(N, i + 50); k++) {
          await store(db.sql, [{ code: "ANC1", dataElement: ANC, value: String(k) }]);
        }
      }
      assert.deepEqual(
        [
          ...await db
            .sql`select held, count(*)::int as n from deliveries group by held order by held`,
        ],
        [{ held: false, n: 1 }, { held: true, n: N - 1 }],
      );
      const limits = { maxValues: 5000, maxWaitMs: 0 };
      // Rolled back after: EXPLAIN ANALYZE claims them.
      const read = removed(
        await analyzedPlan(db.sql, (tx) => claimBatchStatement(tx, "w", limits, 60)),
      );
      // Linear: a few rows per delivery. The per-follower probe read ~N²/2 (1.1 million).
      assert.ok(read < 10 * N, `the claim filtered out ${read} rows for ${N} deliveries`);
      const claimed = await claimBatchStatement(db.sql, "w", limits, 60);
      assert.equal(claimed.length, N);
      const ids = (await db.sql<{ id: number }[]>`select id from deliveries order by id`)
        .map((r) => Number(r.id));
      assert.deepEqual(claimed.map((r) => Number(r.id)).sort((a, b) => a - b), ids);
    } finally {
      await db.close();
    }
  },
);

/**
 * Two submissions of one key, the newer delivered first and the older due again (a requeue), and
 * `others` of keys with nothing newer; all due in one batch.
 */
async function olderDueAgain(sql: Db, others: number) {
  const v = (value: string) => [{ code: "ANC1", dataElement: ANC, value }];
  const older = await store(sql, v("1"));
  const newer = await store(sql, v("2"));
  const rest = [];
  for (let i = 0; i < others; i++) {
    rest.push(await store(sql, v(String(10 + i)), { period: String(200001 + i) }));
  }
  await sql`
    update deliveries set status = 'delivered', held = false, finished_at = now()
    where submission_id = ${newer.id}`;
  const rows = await claimBatchStatement(sql, "w", { maxValues: 5000, maxWaitMs: 0 }, 60);
  return { older, newer, rest, rows };
}

dbTest(
  "a batch claim says which deliveries have a newer one that wrote: attachNewer's round trip only for those",
  async () => {
    const db = await createTestDb("batch_has_newer");
    try {
      const { older, rest: [other], rows } = await olderDueAgain(db.sql, 1);
      const said = Object.fromEntries(rows.map((r) => [Number(r.submission_id), r.has_newer]));
      assert.deepEqual(said, { [older.id]: true, [other.id]: false });
    } finally {
      await db.close();
    }
  },
);

dbTest(
  "a big batch claim leaves the newer look-up to attachNewer, which still finds it",
  async () => {
    const db = await createTestDb("batch_has_newer_big");
    try {
      const { older, newer, rows } = await olderDueAgain(db.sql, SAYS_NEWER_UP_TO);
      assert.equal(rows.length, SAYS_NEWER_UP_TO + 1);
      assert.ok(rows.every((r) => r.has_newer === null), "not looked up in the claim");
      const jobs = inBatchOrder([...rows]);
      await attachNewer(db.sql, jobs);
      const withNewer = jobs.filter((j) => j.newer?.length);
      assert.deepEqual(withNewer.map((j) => j.submissionId), [older.id]);
      assert.deepEqual(withNewer[0].newer!.map((n) => n.submissionId), [newer.id]);
    } finally {
      await db.close();
    }
  },
);
