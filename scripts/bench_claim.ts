/**
 * What FIFO per ordering key costs the claim (not a test: nothing passes or fails). Times the
 * real claim statement (claimStatement) and the claim as it was before migration 0006 (no NOT
 * EXISTS), server side (EXPLAIN ANALYZE's execution time, median of --runs, each in a
 * rolled-back transaction so every run sees the same queue), on --queued rows waiting behind
 * 100,000 finished ones:
 *
 *   distinct  every queued row has its own key (org unit, period): the usual case;
 *   grouped   keys of 10 rows each: 8 claimable heads are found among the first rows;
 *   blocked   one key whose oldest row is running: every queued row is held back. Before
 *             migration 0009 the claim read the whole due index to return nothing (231-448 ms
 *             on 20,000); held deliveries are not in that index at all.
 *
 *   deno run -A scripts/bench_claim.ts [--queued N] [--runs N]
 *
 * Uses DHIS2GW_DB when set (a real server), else a throwaway cluster started with initdb.
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { connect, type Db } from "../src/db/db.ts";
import { migrate } from "../src/db/migrate.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { claimStatement } from "../src/queue/queries.ts";
import { benchDatabase } from "./pg_cluster.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    queued: { type: "string", default: "20000" },
    runs: { type: "string", default: "30" },
  },
});
const queued = Number(values.queued);
const runs = Number(values.runs);

const db = await benchDatabase("bench_claim");
const url = db.url;
const stopCluster = db.stop;
const sql = connect({ url, max: 2 });

/** The claim without FIFO per key (as before migration 0006), for comparison only. */
const oldClaim = (tx: Db, n: number) =>
  tx`
    with due as (
      select id from deliveries
      where status in ('queued', 'retrying') and run_at <= now()
      order by run_at, id
      limit ${n}
      for update skip locked
    ), claimed as (
      update deliveries d
      set status = 'running', attempts = d.attempts + 1, locked_by = 'bench',
          locked_until = now() + make_interval(secs => 60), updated_at = now()
      from due
      where d.id = due.id
      returning d.id, d.submission_id, d.kind, d.destination, d.attempts, d.attempts_at_requeue,
                d.max_attempts, d.locked_until, d.updated_at, d.run_at
    )
    select c.*, s.task_id, s.payload, s.codes, s.username
    from claimed c join submissions s on s.id = c.submission_id`;

class Rollback extends Error {}

/** Median server-side execution time (ms) of the statement, and the rows it claimed. */
async function time(q: (tx: Db) => postgres.Fragment): Promise<[number, number]> {
  const times: number[] = [];
  let claimed = 0;
  for (let i = 0; i < runs; i++) {
    await sql.begin(async (tx) => {
      const [row] = await tx`explain (analyze, format json) ${q(tx)}`;
      const plan = (row["QUERY PLAN"] as Array<{ "Execution Time": number; Plan: Plan }>)[0];
      times.push(plan["Execution Time"]);
      claimed = plan.Plan["Actual Rows"];
      throw new Rollback();
    }).catch((e) => {
      if (!(e instanceof Rollback)) throw e;
    });
  }
  times.sort((a, b) => a - b);
  return [times[Math.floor(times.length / 2)], claimed];
}
interface Plan {
  "Actual Rows": number;
}

async function load(keyOf: string): Promise<void> {
  await sql`truncate submissions restart identity cascade`;
  // 100,000 finished rows, then the queue; run_at in id order, as the route writes them.
  await sql.unsafe(`
    insert into submissions (user_uid, username, source_name, request_hash, org_unit, period,
      data_set, kind, request, payload, codes, status, created_at, finished_at)
    select 'u', 'user', 'default', i::text, 'ou' || (i % 3000), '2023' || lpad((i % 12 + 1)::text, 2, '0'),
           'ds', 'aggregate', '{}', '{"dataValues":[]}', '{}', 'delivered',
           now() - interval '30 days', now()
    from generate_series(1, 100000) i`);
  await sql.unsafe(`
    insert into submissions (user_uid, username, source_name, request_hash, org_unit, period,
      data_set, kind, request, payload, codes, status, created_at)
    select 'u', 'user', 'default', i::text, ${keyOf}, 'ds', 'aggregate', '{}',
           '{"dataValues":[]}', '{}', 'queued', now() - interval '1 hour'
    from generate_series(1, ${queued}) i`);
  // One delivery each, run_at in id order, as the route writes them.
  await sql.unsafe(`
    insert into deliveries (submission_id, kind, ordering_key, status, max_attempts, created_at,
      run_at, finished_at)
    select id, 'aggregate', org_unit || '|' || period, status, 9, created_at,
           case when status = 'queued'
                then now() - make_interval(secs => ${queued} - (id - 100000)::int)
                else created_at end,
           finished_at
    from submissions order by id`);
  await sql`vacuum analyze submissions`;
  await sql`vacuum analyze deliveries`;
}

const scenarios: Array<[string, string, string?]> = [
  ["distinct", "'ou' || i, '202401'"],
  ["grouped", "'ou' || (i % ${KEYS}), '202401'".replace("${KEYS}", String(queued / 10))],
  [
    "blocked",
    "'ouBlocked', '202401'",
    "update deliveries set status = 'running' where id = (select min(id) from deliveries where status = 'queued')",
  ],
];
const results: Record<string, unknown> = {};
try {
  await migrate(sql, captureLogger().log);
  for (const [name, keyOf, then] of scenarios) {
    await load(keyOf);
    if (then) await sql.unsafe(then);
    // What enqueue does (migration 0009): a delivery behind an older pending one of its key is
    // held, out of the claim's index.
    await sql`
      update deliveries d set held = true
      where d.status in ('queued', 'retrying')
        and exists (
          select from deliveries older
          where older.destination = d.destination and older.ordering_key = d.ordering_key
            and older.status in ('queued', 'running', 'retrying') and older.id < d.id
        )`;
    await sql`vacuum analyze deliveries`;
    const [before, beforeRows] = await time((tx) => oldClaim(tx, 8));
    const [fifo, fifoRows] = await time((tx) => claimStatement(tx, "bench", 8, 60));
    results[name] = {
      withoutFifoMs: +before.toFixed(3),
      withoutFifoRows: beforeRows,
      fifoMs: +fifo.toFixed(3),
      fifoRows,
      ratio: +(fifo / before).toFixed(1),
    };
    console.log(
      `${name.padEnd(8)} claim 8 of ${queued} queued: without FIFO ${before.toFixed(3)} ms ` +
        `(${beforeRows} rows), with FIFO ${fifo.toFixed(3)} ms (${fifoRows} rows), ` +
        `×${(fifo / before).toFixed(1)}`,
    );
  }
} finally {
  await sql.end();
  await stopCluster();
}
