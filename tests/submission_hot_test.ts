/**
 * Issues 13 and 18: the submission's status summary (0008's trigger) is rewritten by every claim
 * and every outcome. Those rewrites must be heap-only (HOT) updates, which add no index entry:
 * with `status` or `finished_at` in an index each one wrote a new entry in all ten of the
 * table's indexes, most of the claim's and the outcome's cost (migration 0020).
 */
import assert from "node:assert/strict";
import type { Db } from "../src/db/db.ts";
import { claim, recordAttempt } from "../src/queue/queries.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { DELIVERED, insertOne } from "./support/submissions.ts";

dbTest("a claim and an outcome rewrite the submission's status as HOT updates", async () => {
  const db = await createTestDb("submission_hot");
  try {
    for (let i = 0; i < 20; i++) await db.sql.begin((tx) => insertOne(tx, i));
    // The backend's counters not yet flushed (pg_stat_get_xact_*); nothing flushes them inside
    // a transaction, so the difference across one counts its own updates. The claim and the
    // outcomes commit separately, as the worker's do.
    const read = async (tx: Db) =>
      (await tx<{ updated: number; hot: number }[]>`
        select pg_stat_get_xact_tuples_updated('submissions'::regclass)::int as updated,
               pg_stat_get_xact_tuples_hot_updated('submissions'::regclass)::int as hot`)[0];
    const counted = async <T>(tx: Db, work: () => Promise<T>) => {
      const before = await read(tx);
      const out = await work();
      const after = await read(tx);
      return { out, updated: after.updated - before.updated, hot: after.hot - before.hot };
    };
    const { out: claimed, ...atClaim } = await db.sql.begin((tx) =>
      counted(tx, () => claim(tx, "w1", 20, 60))
    );
    assert.equal(claimed.length, 20);
    // queued -> running for each.
    assert.deepEqual(atClaim, { updated: 20, hot: 20 });
    const { out: _, ...atRecord } = await db.sql.begin((tx) =>
      counted(tx, async () => {
        const now = new Date();
        for (const d of claimed) {
          const ok = await recordAttempt(tx, d, "w1", DELIVERED, {
            outcome: "delivered",
            startedAt: now,
            finishedAt: now,
            durationMs: 1,
          });
          assert.ok(ok);
        }
      })
    );
    // running -> delivered (status, finished_at) for each.
    assert.deepEqual(atRecord, { updated: 20, hot: 20 });
    const [s] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from submissions where status = 'delivered'`;
    assert.equal(s.n, 20);
  } finally {
    await db.close();
  }
});
