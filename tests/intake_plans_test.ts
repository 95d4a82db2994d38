/**
 * Intake's "held" check (is an older delivery of the key pending?) stays a probe of one index
 * row per inserted delivery, whatever the queue behind the key. Written as EXISTS, the group
 * insert's check became a hashed SubPlan on statistics taken before a burst of intake: it read
 * every pending delivery of the key once per statement (18,628 rows, 8 of 15 ms for a group of
 * 21 after the intake bench's peak), and ingest latency at half of the peak grew with the queue.
 * Statistics here are taken while the key has no delivery, then 3,000 are queued behind it, and
 * the plans are the generic ones a prepared statement settles on. On these statistics the
 * planner's choice between hashing and probing is close: with EXISTS this test failed in 3 of 7
 * runs, so it catches that regression only sometimes.
 */
import assert from "node:assert/strict";
import { insertGroup } from "../src/queue/group_commit.ts";
import { enqueue, enqueueStatement } from "../src/queue/queries.ts";
import { analyzedPlan, keyedSubmission, type PlanNode, rowsRead } from "./support/plans.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const KEY = "ouBacklog01|202401";

const submission = (i: number, key = KEY) => keyedSubmission(i, key);

/** Rows the scans of `alias` returned, over all their loops. */
const rowsReadOf = (plan: PlanNode, alias: string) => rowsRead(plan, (p) => p.Alias === alias);

dbTest(
  "intake's held check reads one row per delivery behind a long queue of its key",
  async () => {
    const db = await createTestDb("intake_plans");
    try {
      await db.sql`alter table deliveries set (autovacuum_enabled = off)`;
      for (let i = 0; i < 20; i++) await enqueue(db.sql, submission(i, `ouOther${i}|202401`));
      await db.sql`analyze deliveries`;
      const QUEUED = 3000;
      for (let i = 0; i < QUEUED; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, k) => enqueue(db.sql, submission(100 + i + k))),
        );
      }
      const GROUP = 10;
      const subs = Array.from({ length: GROUP }, (_, k) => submission(10_000 + k));
      const group = await analyzedPlan(
        db.sql,
        (tx) => insertGroup(tx, subs, subs.map(() => crypto.randomUUID())),
        { generic: true },
      );
      assert.ok(
        rowsReadOf(group, "older") <= GROUP,
        `the group insert read ${rowsReadOf(group, "older")} older rows for ${GROUP} deliveries`,
      );
      const single = await analyzedPlan(
        db.sql,
        (tx) => enqueueStatement(tx, submission(20_000)),
        { generic: true },
      );
      assert.ok(rowsReadOf(single, "older") <= 1, `enqueue read ${rowsReadOf(single, "older")}`);

      // And every one of them still goes in held, behind the key's oldest.
      const ids = subs.map(() => crypto.randomUUID());
      await insertGroup(db.sql, subs, ids);
      const [{ held, total }] = await db.sql<{ held: number; total: number }[]>`
      select count(*) filter (where held)::int as held, count(*)::int as total
      from deliveries where ordering_key = ${KEY}`;
      assert.deepEqual({ held, total }, { held: QUEUED + GROUP - 1, total: QUEUED + GROUP });
    } finally {
      await db.close();
    }
  },
);
