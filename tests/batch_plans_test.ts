/**
 * The queue's statements do work in proportion to the batch, whatever the planner's
 * statistics say. The delivery bench drains a queue filled in one burst: statistics taken while
 * everything was queued say nothing is delivered, and a plan trusting them read every delivered
 * row once per claimed one (4.1 s for one batch of 1,000, scripts/bench_batch_stages.ts).
 * Asserted on rows the plans read, not on time, so a loaded machine cannot fail it.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import {
  claimBatchStatement,
  newerStatement,
  recordAttemptsStatement,
} from "../src/queue/batch_queries.ts";
import { claimStatement } from "../src/queue/queries.ts";
import { destinationClaimStatement } from "../src/queue/destination_claim.ts";
import { claimAheadStatement } from "../src/queue/destination_slots.ts";
import type { Db, Sql } from "../src/db/db.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { ANC, store } from "./support/batches.ts";
import { DATA_SET, DELIVERED, ORG_UNIT } from "./support/submissions.ts";
import { analyzedPlan, type PlanNode } from "./support/plans.ts";

/** Buffers the whole plan touched (the root counts its children's). */
export function pages(root: PlanNode): number {
  return (root["Shared Hit Blocks"] ?? 0) + (root["Shared Read Blocks"] ?? 0);
}

/** Rows every node read and threw away, over all its loops. */
export function removed(node: PlanNode): number {
  const own = (node["Rows Removed by Filter"] ?? 0) * (node["Actual Loops"] ?? 1) +
    (node["Rows Removed by Join Filter"] ?? 0);
  return own + (node.Plans ?? []).reduce((sum, p) => sum + removed(p), 0);
}

/**
 * The plan postgres.js gets once PostgreSQL switches its prepared statement to a generic plan
 * (after five executions, when it looks no worse): the array's length unknown to the planner.
 */
export async function genericPlan(
  sql: Sql,
  statement: { describe(): Promise<{ string: string }> },
  ids: number[],
): Promise<PlanNode> {
  const { string } = await statement.describe();
  return await sql.begin(async (tx) => {
    await tx.unsafe("set local plan_cache_mode = force_generic_plan");
    await tx.unsafe(`prepare generic_plan_test as ${string}`);
    try {
      const [row] = await tx.unsafe(
        `explain (analyze, buffers, format json) execute generic_plan_test('{${ids.join(",")}}')`,
      );
      return (row["QUERY PLAN"] as Array<{ Plan: PlanNode }>)[0].Plan;
    } finally {
      await tx.unsafe("deallocate generic_plan_test");
    }
  });
}

/** `n` queued submissions of one value each, a key each, in two statements (store() is slow). */
async function fill(sql: Sql, n: number): Promise<void> {
  await sql`
    insert into submissions (
      user_uid, username, source_name, request_hash, org_unit, period, data_set, request,
      payload, codes, kind
    )
    select 'uTester0001', 'tester', 'default', i::text, ${ORG_UNIT}, p, ${DATA_SET}, '{}',
           jsonb_build_object('dataSet', ${DATA_SET}::text, 'period', p, 'orgUnit', ${ORG_UNIT}::text,
             'dataValues', jsonb_build_array(
               jsonb_build_object('dataElement', ${ANC}::text, 'value', i::text))),
           '{ANC1}', 'aggregate'
    from generate_series(0, ${n - 1}) i,
         lateral (select (2000 + i / 12)::text || lpad((1 + i % 12)::text, 2, '0') as p) x
    order by i`;
  await sql`
    insert into deliveries (
      submission_id, destination, kind, ordering_key, max_attempts, batch_key, weight
    )
    select id, 'default', 'aggregate', org_unit || '|' || period, 4, data_set, 1
    from submissions order by id`;
}

const month = (i: number) => `${2000 + Math.floor(i / 12)}${String(1 + (i % 12)).padStart(2, "0")}`;

dbTest(
  "newer deliveries of a batch are found with one index probe per claimed delivery, on stale statistics",
  async () => {
    const db = await createTestDb("batch_plans_newer");
    try {
      const KEYS = 6000;
      const CLAIMED = 1000;
      await db.sql`alter table deliveries set (autovacuum_enabled = off)`;
      await fill(db.sql, KEYS);
      // One key with a newer delivery that wrote: the claimed older one must see it.
      await store(db.sql, [{ code: "ANC1", dataElement: ANC, value: "newer" }], {
        period: month(KEYS - 1),
      });
      // Statistics of a freshly filled queue: nothing delivered yet.
      await db.sql`analyze deliveries`;
      const ids = (await db.sql<{ id: number }[]>`select id from deliveries order by id`)
        .map((r) => Number(r.id));
      const claimed = ids.slice(KEYS - CLAIMED, KEYS);
      await db.sql`
        update deliveries set status = 'delivered', finished_at = now()
        where id < ${claimed[0]} or id = ${ids[KEYS]}`;
      await db.sql`update deliveries set status = 'running' where id = any(${claimed}::bigint[])`;

      const plan = await genericPlan(db.sql, newerStatement(db.sql, claimed), claimed);
      // A few pages per claimed delivery. The join on stale statistics probed the batch's 300
      // ids once per delivered row (900), or compared every pair.
      assert.ok(removed(plan) < 10 * CLAIMED, `threw away ${removed(plan)} rows for ${CLAIMED}`);
      assert.ok(pages(plan) < 20 * CLAIMED, `read ${pages(plan)} pages for ${CLAIMED}`);

      const [older] = await db.sql<{ id: number }[]>`
        select o.id from deliveries o join deliveries n using (destination, ordering_key)
        where n.id = ${ids[KEYS]} and o.id <> n.id`;
      const found = await newerStatement(db.sql, claimed);
      assert.deepEqual(
        found.map((r) => [Number(r.claimed_id), Number(r.id), r.status]),
        [[Number(older.id), ids[KEYS], "delivered"]],
      );
    } finally {
      await db.close();
    }
  },
);

dbTest(
  "a batch's outcomes are recorded with one primary key probe per delivery, on stale statistics",
  async () => {
    const db = await createTestDb("batch_plans_record");
    try {
      const RUNNING = 4000;
      const BATCH = 1000;
      await db.sql`alter table deliveries set (autovacuum_enabled = off)`;
      await fill(db.sql, RUNNING);
      // Statistics from when another worker had a few running; now several batches of this
      // worker are in flight, as in the bench.
      await db.sql`
        update deliveries set status = 'running', locked_by = 'an earlier worker'
        where id % 100 = 0`;
      await db.sql`analyze deliveries`;
      await db.sql`
        update deliveries set status = 'running', attempts = 1, locked_by = 'w',
                              locked_until = now() + interval '5 minutes'`;
      const ids = (await db.sql<{ id: number }[]>`select id from deliveries order by id`)
        .map((r) => Number(r.id)).slice(0, BATCH);
      const at = new Date();
      const items = ids.map((id, k) => ({
        job: { id, attempt: 1 },
        update: k === 0
          ? { ...DELIVERED, status: "partial" as const, lastError: "1 value refused" }
          : DELIVERED,
        attempt: { outcome: "delivered" as const, startedAt: at, finishedAt: at, durationMs: 7 },
        batchId: null,
      }));
      // Fenced: another attempt's lease.
      items[1] = { ...items[1], job: { id: ids[1], attempt: 2 } };
      for (const generic of [false, true]) {
        const plan = await analyzedPlan(
          db.sql,
          (tx) => recordAttemptsStatement(tx, "w", items),
          { generic },
        );
        // A few rows per delivery; the join compared every running delivery with every outcome.
        assert.ok(removed(plan) < 10 * BATCH, `threw away ${removed(plan)} rows for ${BATCH}`);
        assert.ok(read(plan) < 20 * BATCH, `read ${read(plan)} rows for ${BATCH}`);
        // The outcomes object is read once per use (an InitPlan each), never once per row.
        const scans = cteScans(plan, "input");
        assert.ok(scans >= 1 && scans <= 3, `the outcomes were scanned ${scans} times`);
      }
      // ...and passed once: postgres.js serializes each reference of a value as its own
      // parameter (three were 26 % of the delivering process's CPU, bench --profile).
      const statement = recordAttemptsStatement(db.sql, "w", items) as unknown as {
        args: unknown[];
      };
      const jsonb = statement.args.filter((a) => (a as { type?: number })?.type === 3802);
      assert.equal(jsonb.length, 1);

      const recorded = await recordAttemptsStatement(db.sql, "w", items);
      assert.equal(recorded.length, BATCH - 1);
      const rows = await db.sql<{ id: number; status: string; last_error: string | null }[]>`
        select id, status, last_error from deliveries where id = any(${ids.slice(0, 3)}::bigint[])
        order by id`;
      assert.deepEqual(rows.map((r) => [Number(r.id), r.status, r.last_error]), [
        [ids[0], "partial", "1 value refused"],
        [ids[1], "running", null],
        [ids[2], "delivered", null],
      ]);
      const [attempt] = await db.sql<{ n: number; outcome: string; duration_ms: number }[]>`
        select count(*)::int as n, min(outcome) as outcome, min(duration_ms) as duration_ms
        from delivery_attempts`;
      assert.deepEqual({ ...attempt }, { n: BATCH - 1, outcome: "delivered", duration_ms: 7 });
    } finally {
      await db.close();
    }
  },
);

dbTest(
  "every claim checks FIFO per key by index probes, on statistics of an empty queue",
  async () => {
    const db = await createTestDb("claim_plans_fifo");
    try {
      const QUEUED = 5000;
      const WANT = 64;
      await db.sql`alter table deliveries set (autovacuum_enabled = off)`;
      // Statistics from before a burst of intake, as scripts/bench_delivery_instant.ts drains.
      await db.sql`analyze deliveries`;
      await fill(db.sql, QUEUED);
      await db.sql`insert into destinations (name, tokens) values ('default', 1)`;
      const explained = async <T extends readonly object[]>(
        name: string,
        statement: (tx: Db) => postgres.PendingQuery<T>,
      ) => {
        for (const generic of [false, true]) {
          const plan = await analyzedPlan(db.sql, statement, { generic });
          const which = `${name}${generic ? " (generic plan)" : ""}`;
          // A few rows per claimed delivery. NOT EXISTS as an anti join read every pending row
          // once per candidate (320,000 for 64), and counting the running ones by another index
          // read the whole queue (5,000).
          assert.ok(removed(plan) < 10 * WANT, `${which} threw away ${removed(plan)} rows`);
          // Nor does any scan read the queue whole, as a hashed subplan would (intake's held
          // check did, on the plan a prepared statement settles on: intake_plans_test.ts).
          // Not claimStatement's: on these statistics it sorts every due row (5,320 read); only
          // a worker without a destination claims with it, and `serve` gives each one its own.
          if (name !== "claimStatement") {
            assert.ok(read(plan) < 20 * WANT, `${which} read ${read(plan)} rows`);
          }
        }
      };
      const limits = { name: "default", maxConcurrent: 100, ratePerSecond: 0 };
      await explained("claimStatement", (tx) => claimStatement(tx, "w", WANT, 60));
      await explained(
        "destinationClaimStatement",
        (tx) => destinationClaimStatement(tx, limits, "w", WANT, 60),
      );
      await explained("claimAheadStatement", (tx) =>
        claimAheadStatement(tx, "w", {
          name: "default",
          maxConcurrent: 100,
          maxLocal: 8,
          want: WANT,
          sending: 0,
          ready: 0,
          leaseSeconds: 60,
        }));
      await explained(
        "claimBatchStatement",
        (tx) => claimBatchStatement(tx, "w", { maxValues: WANT, maxWaitMs: 0 }, 60, "default"),
      );
      // With batches in flight (1,000 running, still unknown to the statistics): whether a
      // claimed delivery has a newer running one is a probe of its key, not a read of every
      // running delivery (`status = 'running'` chose deliveries_running_idx: 64,000 rows).
      await claimBatchStatement(db.sql, "o", { maxValues: 1000, maxWaitMs: 0 }, 60, "default");
      await explained(
        "claimBatchStatement, 1,000 running",
        (tx) => claimBatchStatement(tx, "w", { maxValues: WANT, maxWaitMs: 0 }, 60, "default"),
      );
      await explained(
        "destinationClaimStatement, 1,000 running",
        (tx) => destinationClaimStatement(tx, limits, "w", WANT, 60),
      );
    } finally {
      await db.close();
    }
  },
);

/** Rows returned by every plan node that reads a table, over all its loops. */
function read(node: PlanNode): number {
  const own = node.Alias ? (node["Actual Rows"] ?? 0) * (node["Actual Loops"] ?? 1) : 0;
  return own + (node.Plans ?? []).reduce((sum, p) => sum + read(p), 0);
}

/** Loops of the plan's scans of the CTE `name`. */
function cteScans(node: PlanNode, name: string): number {
  const own = node["Node Type"] === "CTE Scan" && node["CTE Name"] === name
    ? node["Actual Loops"] ?? 1
    : 0;
  return own + (node.Plans ?? []).reduce((sum, p) => sum + cteScans(p, name), 0);
}

/** Rows thrown away by the plan nodes reading a table under an alias matching `alias`. */
function removedAt(node: PlanNode, alias: RegExp): number {
  const own = node.Alias && alias.test(node.Alias)
    ? (node["Rows Removed by Filter"] ?? 0) * (node["Actual Loops"] ?? 1)
    : 0;
  return own + (node.Plans ?? []).reduce((sum, p) => sum + removedAt(p, alias), 0);
}

/** Loops of every plan node reading `alias` (0 when never executed). */
function loopsOf(node: PlanNode, alias: string): number {
  const own = node.Alias === alias ? node["Actual Loops"] ?? 0 : 0;
  return own + (node.Plans ?? []).reduce((sum, p) => sum + loopsOf(p, alias), 0);
}

dbTest(
  "a batch claim probes no key for held followers when the destination holds none",
  async () => {
    const db = await createTestDb("claim_plans_no_held");
    try {
      await fill(db.sql, 200);
      const plan = await analyzedPlan(
        db.sql,
        (tx) => claimBatchStatement(tx, "w", { maxValues: 100, maxWaitMs: 0 }, 60, "default"),
      );
      // The stop probe (alias o) ran once per key of the batch: 100 index probes for nothing.
      assert.equal(loopsOf(plan, "o"), 0);
    } finally {
      await db.close();
    }
  },
);

dbTest(
  "the claim's newer-running probe reads the key's running deliveries only, not its backlog",
  async () => {
    const db = await createTestDb("claim_plans_backlog");
    try {
      const BACKLOG = 2000;
      await fill(db.sql, BACKLOG + 1);
      // One key: the oldest due, the rest a backlog held behind it (a burst for one org unit
      // and period with batching off).
      await db.sql`update submissions set period = '202401'`;
      await db.sql`
        update deliveries set ordering_key = ${ORG_UNIT} || '|202401',
                              held = id <> (select min(id) from deliveries)`;
      const plan = await analyzedPlan(db.sql, (tx) => claimStatement(tx, "w", 1, 60));
      // hasNewer's probes (alias n, n_1). Through the pending-key index the running one read the
      // 2,000 newer queued rows of the key.
      const probes = removedAt(plan, /^n(_\d+)?$/);
      assert.ok(probes < 10, `the newer probes threw away ${probes} rows`);
    } finally {
      await db.close();
    }
  },
);
