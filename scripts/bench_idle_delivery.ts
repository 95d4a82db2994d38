/**
 * Issue 18's "accept→delivered at idle" row: one client posts a submission, waits for its
 * answer, pauses, and posts the next, against a full `serve` (API and worker, default
 * settings: batching on) whose DHIS2 is the simulator with a zero cost model on its own thread.
 * Each submission's time is its delivery's finish minus its own arrival, both read from the
 * database's clock (submissions.created_at, deliveries.finished_at), so neither process's
 * timers nor the poll count. Every submission must be delivered once.
 *
 *   deno run -A scripts/bench_idle_delivery.ts [--submissions 200] [--pause-ms 50]
 *     [--max-values N]   (the gateway's batch.max_values; 0: batching off; default: its default)
 *
 * `deno task bench` records it as `delivery_idle` in bench/results/ratios.json.
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { DB_SCHEMA } from "../src/db/schema.ts";
import { DEFAULT_PASSWORD, DEFAULT_USERNAME } from "../src/simulator/simulator.ts";
import { portFrom, startServe } from "../tests/support/cli.ts";
import { startSimThread } from "./bench_delivery.ts";
import { recordSection } from "./perf_lib.ts";
import { benchDatabase } from "./pg_cluster.ts";
import { ADMIN, SAMPLE_SUBMISSION, setUpSample } from "./sample.ts";

export interface IdleResult {
  submissions: number;
  pause_ms: number;
  /** batch.max_values the gateway ran with; null: its default (batching on). */
  batch_max_values: number | null;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  /** From arrival to the DHIS2 request's start (wake-up and claim), median. */
  to_request_p50_ms: number;
  delivered_once: boolean;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function idleDelivery(
  n: number,
  pauseMs: number,
  maxValues: number | null = null,
): Promise<IdleResult> {
  const db = await benchDatabase("bench_idle");
  const sim = await startSimThread({ fixedMs: 0, perValueMs: 0, concurrency: 1_000_000 });
  const gw = startServe(["serve"], {
    env: {
      DHIS2GW_DB: db.url,
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_SERVER_PORT: "0",
      DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: DEFAULT_USERNAME,
      DHIS2GW_DHIS2_PASSWORD: DEFAULT_PASSWORD,
      ...(maxValues === null ? {} : { DHIS2GW_BATCH_MAX_VALUES: String(maxValues) }),
    },
  });
  const sql = postgres(db.url, {
    max: 1,
    onnotice: () => {},
    connection: { search_path: DB_SCHEMA },
  });
  try {
    const base = `http://127.0.0.1:${portFrom(await gw.waitFor(/"msg":"listening"/, 60_000))}`;
    const sample = await setUpSample(`${base}/api/v3`);
    const post = async (i: number) => {
      const res = await fetch(`${base}/api/v3/aggregate`, {
        method: "POST",
        headers: { Authorization: `Token ${sample.apiToken}`, "Content-Type": "application/json" },
        // One period each: every submission its own ordering key, nothing waits behind another.
        body: JSON.stringify({
          ...SAMPLE_SUBMISSION,
          period: `${2000 + Math.floor(i / 12)}${String((i % 12) + 1).padStart(2, "0")}`,
        }),
      });
      if (res.status !== 200) throw new Error(`POST ${res.status}: ${await res.text()}`);
      await res.body?.cancel();
    };
    // Warm-up: the first requests pay for compilation and connections.
    for (let i = 0; i < 10; i++) await post(n + i);
    const [{ mark }] = await sql<{ mark: Date }[]>`select now() as mark`;
    for (let i = 0; i < n; i++) {
      await post(i);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
    const until = Date.now() + 60_000;
    for (;;) {
      const [{ open }] = await sql<{ open: number }[]>`
        select count(*)::int as open from deliveries where finished_at is null`;
      if (open === 0) break;
      if (Date.now() > until) throw new Error(`${open} deliveries not finished after 60 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const rows = await sql<
      { ms: number; to_start: number; status: string; attempts: number }[]
    >`
      select extract(epoch from d.finished_at - s.created_at)::float8 * 1000 as ms,
             extract(epoch from a.started_at - s.created_at)::float8 * 1000 as to_start,
             d.status, d.attempts
      from submissions s join deliveries d on d.submission_id = s.id
      join delivery_attempts a on a.delivery_id = d.id and a.number = 1
      where s.created_at > ${mark}`;
    const toStart = rows.map((r) => r.to_start).sort((a, b) => a - b);
    const ms = rows.map((r) => r.ms).sort((a, b) => a - b);
    const round = (x: number) => Math.round(x * 10) / 10;
    return {
      submissions: rows.length,
      pause_ms: pauseMs,
      batch_max_values: maxValues,
      p50_ms: round(percentile(ms, 50)),
      p95_ms: round(percentile(ms, 95)),
      p99_ms: round(percentile(ms, 99)),
      max_ms: round(ms[ms.length - 1]),
      to_request_p50_ms: round(percentile(toStart, 50)),
      delivered_once: rows.length === n &&
        rows.every((r) => r.status === "delivered" && r.attempts === 1),
    };
  } finally {
    await sql.end();
    await gw.stop("SIGTERM");
    await sim.stop();
    await db.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      submissions: { type: "string", default: "200" },
      "pause-ms": { type: "string", default: "50" },
      "max-values": { type: "string" },
    },
  });
  const maxValues = values["max-values"] === undefined ? null : Number(values["max-values"]);
  const r = await idleDelivery(Number(values.submissions), Number(values["pause-ms"]), maxValues);
  console.log(
    `accept→delivered at idle (${r.submissions} submissions, one at a time, ${r.pause_ms} ms ` +
      `apart): p50 ${r.p50_ms} ms, p95 ${r.p95_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms ` +
      `(to the DHIS2 request's start: p50 ${r.to_request_p50_ms} ms); ` +
      `each delivered once: ${r.delivered_once}`,
  );
  // The recorded rows are deno task bench's: the default, and batching off.
  const section = maxValues === null
    ? "delivery_idle"
    : maxValues === 0
    ? "delivery_idle_unbatched"
    : null;
  if (section) await recordSection(section, { date: new Date().toISOString(), ...r });
}
