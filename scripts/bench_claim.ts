/**
 * What FIFO per ordering key costs the claim (not a test: nothing passes or fails). Times the
 * real claim statement (claimStatement) and the claim as it was before migration 0006 (no NOT
 * EXISTS), server side (EXPLAIN ANALYZE's execution time, median of --runs, each in a
 * rolled-back transaction so every run sees the same queue), on --queued rows waiting behind
 * 100,000 finished ones:
 *
 *   distinct  every queued row has its own key (org unit, period): the usual case;
 *   grouped   keys of 10 rows each: 8 claimable heads are found among the first rows;
 *   blocked   one key whose oldest row is running: every queued row is held back, so the
 *             claim reads the whole due index to return nothing (the worst case).
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
import { findPgBin, startCluster } from "./pg_cluster.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    queued: { type: "string", default: "20000" },
    runs: { type: "string", default: "30" },
  },
});
const queued = Number(values.queued);
const runs = Number(values.runs);

let url = Deno.env.get("DHIS2GW_DB");
let stopCluster = async () => {};
if (!url) {
  const bin = await findPgBin();
  if (!bin) throw new Error("set DHIS2GW_DB or install PostgreSQL (initdb, pg_ctl)");
  const cluster = await startCluster(bin);
  stopCluster = cluster.stop;
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  await admin.unsafe("create database bench_claim");
  await admin.end();
  url = cluster.url.replace(/\/postgres$/, "/bench_claim");
}
const sql = connect({ url, max: 2 });

/** The claim before migration 0006, for comparison only. */
const oldClaim = (tx: Db, n: number) =>
  tx`
    with due as (
      select id from submissions
      where status in ('queued', 'retrying') and run_at <= now()
      order by run_at, id
      limit ${n}
      for update skip locked
    )
    update submissions s
    set status = 'running', attempts = s.attempts + 1, locked_by = 'bench',
        locked_until = now() + make_interval(secs => 60), updated_at = now()
    from due
    where s.id = due.id
    returning s.id, s.task_id, s.attempts, s.attempts_at_requeue, s.payload, s.codes,
              s.username, s.locked_until, s.updated_at, s.run_at`;

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
  await sql`truncate submissions cascade`;
  // 100,000 finished rows, then the queue; run_at in id order, as the route writes them.
  await sql.unsafe(`
    insert into submissions (user_uid, username, source_name, request_hash, org_unit, period,
      data_set, request, payload, codes, status, created_at, run_at, finished_at)
    select 'u', 'user', 'default', i::text, 'ou' || (i % 3000), '2023' || lpad((i % 12 + 1)::text, 2, '0'),
           'ds', '{}', '{"dataValues":[]}', '{}', 'delivered',
           now() - interval '30 days', now() - interval '30 days', now()
    from generate_series(1, 100000) i`);
  await sql.unsafe(`
    insert into submissions (user_uid, username, source_name, request_hash, org_unit, period,
      data_set, request, payload, codes, status, created_at, run_at)
    select 'u', 'user', 'default', i::text, ${keyOf}, 'ds', '{}', '{"dataValues":[]}', '{}',
           'queued', now() - interval '1 hour', now() - make_interval(secs => ${queued} - i)
    from generate_series(1, ${queued}) i`);
  await sql`vacuum analyze submissions`;
}

const scenarios: Array<[string, string, string?]> = [
  ["distinct", "'ou' || i, '202401'"],
  ["grouped", "'ou' || (i % ${KEYS}), '202401'".replace("${KEYS}", String(queued / 10))],
  [
    "blocked",
    "'ouBlocked', '202401'",
    "update submissions set status = 'running' where id = (select min(id) from submissions where status = 'queued')",
  ],
];
const results: Record<string, unknown> = {};
try {
  await migrate(sql, captureLogger().log);
  for (const [name, keyOf, then] of scenarios) {
    await load(keyOf);
    if (then) await sql.unsafe(then);
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
