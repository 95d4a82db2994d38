/**
 * Where a batch's time goes, stage by stage, at several batch sizes: the destination claim,
 * attachNewer, the import (payload, HTTP, the simulator's parsing and storing with a zero cost
 * model, mapping the reply back), and the record (exchanges + attempts + the submission-status
 * trigger). One batch at a time, so each stage is timed alone; the queue is the delivery
 * bench's (N submissions of 10 values). A stage whose cost per delivery grows with the batch
 * size is what keeps big batches from the cost model's ceiling.
 *
 *   deno run -A scripts/bench_batch_stages.ts [--submissions 10000] [--sizes 200,500,1000]
 *     [--explain] [--no-trigger]
 */
import { parseArgs } from "node:util";
import { aggregateKind } from "../src/aggregate/kind.ts";
import { createDhis2Client } from "../src/dhis2/client.ts";
import { connect } from "../src/db/db.ts";
import { migrate } from "../src/db/migrate.ts";
import { createLogger } from "../src/logs/logger.ts";
import { attachNewer, type BatchAttempt, recordBatchOutcomes } from "../src/queue/batch_queries.ts";
import { claimBatchForDestination } from "../src/queue/destination_claim.ts";
import { credentialBackoff, planOutcome } from "../src/queue/outcome_plan.ts";
import { DEFAULT_PASSWORD, DEFAULT_USERNAME } from "../src/simulator/simulator.ts";
import { dropDatabase, freshDatabase, startSimThread, store } from "./bench_delivery.ts";
import { benchDatabase } from "./pg_cluster.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    submissions: { type: "string", default: "10000" },
    sizes: { type: "string", default: "200,500,1000" },
    explain: { type: "boolean", default: false },
    "no-trigger": { type: "boolean", default: false },
  },
});
const n = Number(values.submissions);
const backoff = { baseSeconds: 1, maxSeconds: 5, jitter: 0.2 };
const db = await benchDatabase("bench_stages_admin");
const quiet = createLogger({ level: "error", sink: () => {} });
const limits = { name: "default", maxConcurrent: 100, ratePerSecond: 0 };
console.log(`load ${Deno.loadavg().join(" ")}; ${n} submissions x 10 values`);
try {
  for (const size of values.sizes.split(",").map(Number)) {
    const url = await freshDatabase(db.url, `bench_stages_${size}`);
    if (values.explain) {
      // Every statement's plan, the trigger's included, as a notice to this client.
      const dbName = new URL(url).pathname.slice(1);
      const admin = connect({ url: db.url, max: 1, log: quiet, searchPath: "public" });
      await admin.unsafe(`alter database ${dbName} set session_preload_libraries = 'auto_explain'`);
      for (
        const [k, v] of Object.entries({
          log_min_duration: "20",
          log_analyze: "on",
          log_buffers: "on",
          log_nested_statements: "on",
          log_level: "notice",
          log_triggers: "on",
        })
      ) await admin.unsafe(`alter database ${dbName} set auto_explain.${k} = '${v}'`);
      await admin.end();
    }
    const explained = createLogger({
      level: "debug",
      sink: (line) => {
        const m = JSON.parse(line);
        if (m.msg === "postgres notice") console.log(m.message);
      },
    });
    const sql = connect({ url, max: 4, log: values.explain ? explained : quiet });
    const sim = await startSimThread({ fixedMs: 0, perValueMs: 0, concurrency: 4 });
    try {
      await migrate(sql, quiet);
      if (values["no-trigger"]) {
        await sql`alter table deliveries disable trigger deliveries_summary_update`;
      }
      for (let i = 0; i < n; i += 20) {
        await Promise.all(
          Array.from({ length: Math.min(20, n - i) }, (_, k) => store(sql, i + k)),
        );
      }
      const client = createDhis2Client({
        baseUrl: sim.url,
        auth: { method: "basic", username: DEFAULT_USERNAME, password: DEFAULT_PASSWORD },
        connectTimeoutMs: 60_000,
        timeoutMs: 120_000,
      });
      const kind = aggregateKind({ client, saveResponse: false });
      const batch = { maxValues: size * 10, maxWaitMs: 0 };
      const t = { claim: 0, newer: 0, send: 0, plan: 0, record: 0, batches: 0 };
      for (;;) {
        let t0 = performance.now();
        const { jobs } = await claimBatchForDestination(sql, limits, batch, "w1", 300);
        if (!jobs.length) break;
        t.claim += performance.now() - t0;
        t0 = performance.now();
        await attachNewer(sql, jobs);
        t.newer += performance.now() - t0;
        t0 = performance.now();
        const startedAt = new Date();
        const result = await kind.batch!.deliverBatch(jobs, { now: () => new Date() });
        t.send += performance.now() - t0;
        t0 = performance.now();
        const finishedAt = new Date();
        const byId = new Map(jobs.map((j) => [j.id, j]));
        const items: BatchAttempt[] = result.outcomes.map((o) => {
          const job = byId.get(o.deliveryId)!;
          const plan = planOutcome(o.outcome, {
            budgetAttempt: job.attempt - job.attemptsAtRequeue,
            maxRetries: job.maxAttempts - 1,
            backoff,
            credentialBackoff: credentialBackoff(backoff),
            now: finishedAt,
            random: Math.random,
          });
          return {
            job,
            update: plan.update,
            attempt: { outcome: plan.outcome, startedAt, finishedAt, durationMs: 1 },
            batchId: o.batchId,
          };
        });
        t.plan += performance.now() - t0;
        t0 = performance.now();
        const recorded = await recordBatchOutcomes(
          sql,
          "w1",
          "aggregate",
          "default",
          jobs[0].batchKey ?? null,
          result.exchanges,
          items,
        );
        t.record += performance.now() - t0;
        if (recorded.size !== jobs.length) {
          throw new Error(`recorded ${recorded.size}/${jobs.length}`);
        }
        t.batches++;
      }
      const per = (ms: number) => `${(ms / t.batches).toFixed(1)} ms`;
      console.log(
        `batch of ${size} (${t.batches} batches): claim ${per(t.claim)}, attachNewer ${
          per(t.newer)
        }, import ${per(t.send)}, plan ${per(t.plan)}, record ${per(t.record)}; total ${
          ((t.claim + t.newer + t.send + t.plan + t.record) / 1000).toFixed(2)
        } s`,
      );
    } finally {
      await sim.stop();
      await sql.end({ timeout: 5 });
      await dropDatabase(db.url, url);
    }
  }
} finally {
  await db.stop();
}
console.log(`load ${Deno.loadavg().join(" ")}`);
