/**
 * Ingest latency under an open-loop load (scripts/open_loop.ts): POST /api/v3/aggregate offered
 * at a fixed rate, each request timed from when it was due. `deno task bench` takes it at half
 * of the measured peak and at 20/s (bench_intake.ts); run alone it compares launch variants of
 * `serve --no-worker` in one run, on one throwaway cluster, alternating, so that the machine's
 * load drifting biases none:
 *
 *   deno run -A scripts/bench_latency.ts --rates 20,300 --seconds 10 --rounds 2 \
 *     --variant 'default' --variant 'no-v8-flags:V8=' --variant 'trace:V8=--trace-gc'
 *
 * A variant is `name[:V8=<flags>][:ENV=K=V,...][:KEYS=N][:DIR=<checkout>]` (V8 replaces the
 * launchers' V8 flags; KEYS posts N ordering keys in turn, periods of the one org unit; DIR runs
 * another checkout's gateway, `git worktree add /tmp/base main` say); the
 * variant `bare` is the bare Hono + zod + postgres.js handler (scripts/bare_handler.ts).
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { V8_FLAGS } from "../src/cli/runtime_flags.ts";
import { DB_SCHEMA } from "../src/db/schema.ts";
import { MAIN, portFrom, RUN_FLAGS, type ServeProcess } from "../tests/support/cli.ts";
import { type OpenLoopResult, runOpenLoop } from "./open_loop.ts";
import { findPgBin, startCluster } from "./pg_cluster.ts";
import { machineCpuMs, pgPids, schedDelta, schedThreads, wrapChild } from "./perf_lib.ts";
import { ADMIN, SAMPLE_SUBMISSION, setUpSample } from "./sample.ts";

const body = JSON.stringify(SAMPLE_SUBMISSION);

/**
 * Each measured step is preceded by this many seconds at its own rate, unmeasured, from the
 * same generator process: a fresh generator's first second (its JIT compiling, sockets opened
 * as the load ramps up) put 400 requests at p50 10-39 ms into a 10 s step's 15,830, enough to
 * set its p99 alone. The cores and the request log still cover warm-up and step alike.
 */
const WARMUP_S = 2;

/** Open-loop latency of POST /aggregate at `rate`, as one line and the figures. */
export async function ingestLatency(
  url: string,
  auth: string,
  rate: number,
  seconds: number,
  keys = 1,
  warmupSeconds = 0,
): Promise<OpenLoopResult> {
  return await runOpenLoop({
    warmupSeconds,
    url,
    body: keys === 1 ? body : Array.from(
      { length: keys },
      (_, i) =>
        JSON.stringify({
          ...SAMPLE_SUBMISSION,
          period: String(202001 + 100 * Math.floor(i / 12) + (i % 12)),
        }),
    ),
    headers: { Authorization: auth },
    rate,
    seconds,
  });
}

export function describe(r: OpenLoopResult): string {
  return `offered ${r.offered_per_s}/s, achieved ${r.achieved_per_s}/s over ${r.connections} ` +
    `connections: p50 ${r.p50_ms} ms, p90 ${r.p90_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms ` +
    `(from the due time; from the send: p50 ${r.service_p50_ms}, p99 ${r.service_p99_ms}; ` +
    `send lag p99 ${r.send_lag_p99_ms} ms)` +
    (r.non_2xx || r.errors ? ` ${r.non_2xx} non-2xx, ${r.errors} errors` : "");
}

/**
 * Who got a core during a step and who waited for one (Linux's schedstat): the gateway's
 * JavaScript thread, its other threads, PostgreSQL's processes and the whole machine. A thread
 * that waited while runnable was ready to answer and had no core: the machine's share of the
 * tail, as opposed to the gateway's own work.
 */
export async function contention(gatewayPid: number, pgPort: string, who = "gateway") {
  const main = String(gatewayPid);
  const take = async () => {
    const all = await schedThreads([gatewayPid]);
    return {
      t: performance.now(),
      js: new Map([...all].filter(([tid]) => tid === main)),
      all,
      // Backends that start during the step are missed, ones that end are left out (schedDelta).
      pg: await schedThreads(await pgPids(pgPort)),
      machine: await machineCpuMs(),
    };
  };
  const before = await take();
  return async () => {
    const after = await take();
    const wall = after.t - before.t;
    const d = (k: "js" | "all" | "pg") => {
      const x = schedDelta(before[k], after[k]);
      return { ran: Math.round(x.ran), waited: Math.round(x.waited) };
    };
    const js = d("js"), all = d("all"), pg = d("pg");
    const busy = (after.machine.busy - before.machine.busy) /
      (wall * navigator.hardwareConcurrency);
    const share = (x: { ran: number; waited: number }) =>
      Math.round((100 * x.waited) / Math.max(1, x.ran + x.waited));
    return {
      line: `cores over the step: machine ${Math.round(100 * busy)} % busy; ${who} JavaScript ` +
        `thread ran ${js.ran} ms, waited ${js.waited} ms for a core (${share(js)} % of its ` +
        `runnable time); its other threads ran ${all.ran - js.ran} ms, waited ` +
        `${all.waited - js.waited} ms; PostgreSQL ran ${pg.ran} ms, waited ${pg.waited} ms ` +
        `(${share(pg)} %)`,
      figures: {
        machine_busy_pct: Math.round(100 * busy),
        js_ran_ms: js.ran,
        js_waited_ms: js.waited,
      },
    };
  };
}

/**
 * bench_intake.ts's latency rows: the gateway at half of `peak` and at 20/s, each followed by
 * the bare handler (its own process, on `bareDbUrl`'s table t) at the same rate.
 */
export async function latencySteps(o: {
  url: string;
  auth: string;
  bareDbUrl: string;
  peak: number;
  seconds: number;
  log: (line: string) => void;
  /** For contention(): the gateway's process and its PostgreSQL's port. */
  gatewayPid?: number;
  pgPort?: string;
}): Promise<Record<string, unknown>> {
  const bare = spawnBare(o.bareDbUrl);
  try {
    const bareUrl = `http://127.0.0.1:${JSON.parse(await bare.waitFor(/"port"/)).port}/`;
    await ingestLatency(bareUrl, "none", 100, 1); // its JIT and pool, as the gateway's are warm
    const out: Record<string, unknown> = {};
    for (
      const [name, rate] of [["half_peak", Math.max(1, Math.round(o.peak / 2))], [
        "low_rate",
        20,
      ]] as const
    ) {
      const cores = o.gatewayPid && o.pgPort ? await contention(o.gatewayPid, o.pgPort) : null;
      const ours = await ingestLatency(o.url, o.auth, rate, o.seconds, 1, WARMUP_S);
      const waits = await cores?.();
      const ref = await ingestLatency(bareUrl, "none", rate, o.seconds, 1, WARMUP_S);
      o.log(`ingest latency at ${name.replace("_", " ")}: gateway ${describe(ours)}`);
      if (waits) o.log(`  ${waits.line}`);
      o.log(`  bare handler at the same rate: ${describe(ref)}`);
      Object.assign(out, {
        [`${name}_rate`]: rate,
        [`${name}_achieved_per_s`]: ours.achieved_per_s,
        [`${name}_p50_ms`]: ours.p50_ms,
        [`${name}_p99_ms`]: ours.p99_ms,
        [`${name}_max_ms`]: ours.max_ms,
        [`${name}_send_lag_p99_ms`]: ours.send_lag_p99_ms,
        [`${name}_bare_achieved_per_s`]: ref.achieved_per_s,
        [`${name}_bare_p50_ms`]: ref.p50_ms,
        [`${name}_bare_p99_ms`]: ref.p99_ms,
        ...(waits
          ? {
            [`${name}_js_waited_ms`]: waits.figures.js_waited_ms,
            [`${name}_js_ran_ms`]: waits.figures.js_ran_ms,
            [`${name}_machine_busy_pct`]: waits.figures.machine_busy_pct,
          }
          : {}),
      });
    }
    out.latency_load = "open loop (scripts/open_loop.ts), timed from each request's due time";
    return out;
  } finally {
    await bare.stop();
  }
}

interface Variant {
  name: string;
  v8?: string;
  /** Ordering keys posted in turn (periods of one org unit); the bench posts one. */
  keys: number;
  env: Record<string, string>;
  /** Another checkout's gateway (DIR=<path>): before/after a change, in the same run. */
  dir?: string;
}

function parseVariant(s: string): Variant {
  const [name, ...parts] = s.split(":");
  const v: Variant = { name, env: {}, keys: 1 };
  for (const p of parts) {
    if (p.startsWith("V8=")) v.v8 = p.slice(3);
    else if (p.startsWith("KEYS=")) v.keys = Number(p.slice(5));
    else if (p.startsWith("DIR=")) v.dir = p.slice(4);
    else if (p.startsWith("ENV=")) {
      for (const kv of p.slice(4).split(",")) {
        const i = kv.indexOf("=");
        v.env[kv.slice(0, i)] = kv.slice(i + 1);
      }
    }
  }
  return v;
}

function spawn(v: Variant, dbUrl: string): ServeProcess {
  const flags = RUN_FLAGS.filter((f) => f !== V8_FLAGS);
  if (v.v8 === undefined) flags.push(V8_FLAGS);
  else if (v.v8) flags.push(`--v8-flags=${v.v8}`);
  return wrapChild(
    new Deno.Command(Deno.execPath(), {
      args: [...flags, v.dir ? `${v.dir}/main.ts` : MAIN, "serve", "--no-worker"],
      cwd: v.dir,
      env: {
        PATH: Deno.env.get("PATH") ?? "",
        DHIS2GW_DB: dbUrl,
        DHIS2GW_SERVER_PORT: "0",
        DHIS2GW_HOST: "127.0.0.1",
        DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
        DHIS2GW_DB_POOL_MAX: "32",
        ...v.env,
      },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn(),
  );
}

/** Transactions committed in the database so far (pg_stat_database). */
async function commits(dbUrl: string): Promise<number> {
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_stat_clear_snapshot()`;
    const [r] = await sql`select xact_commit::int as n from pg_stat_database
      where datname = current_database()`;
    return r.n;
  } finally {
    await sql.end();
  }
}

/**
 * The gateway's own view from its request log: the handler's time (request id middleware to
 * answer, database and group-commit waits included; not the HTTP layer before it).
 */
async function handlerTimes(dbUrl: string, since: Date, commitsBefore: number): Promise<string> {
  await new Promise((r) => setTimeout(r, 1500)); // the request log's 1 s flush
  const sql = postgres(dbUrl, {
    max: 1,
    onnotice: () => {},
    connection: { search_path: DB_SCHEMA },
  });
  try {
    const [r] = await sql`select count(*)::int as n,
      percentile_disc(0.5) within group (order by duration_ms) as p50,
      percentile_disc(0.99) within group (order by duration_ms) as p99,
      max(duration_ms) as max
      from request_log where at >= ${since} and path = '/api/v3/aggregate'`;
    // Group commit's grouping: transactions per request (1: each alone; request-log and
    // NOTIFY statements count too).
    const per = ((await commits(dbUrl)) - commitsBefore) / Math.max(1, r.n);
    return `handler time (request log, ${r.n} requests): p50 ${r.p50} ms, p99 ${r.p99} ms, ` +
      `max ${r.max} ms; ${per.toFixed(2)} transactions per request`;
  } finally {
    await sql.end();
  }
}

/** SIGSTOP `pid` after `afterMs` for `forMs`, then SIGCONT. */
async function stallAfter(pid: number, afterMs: number, forMs: number): Promise<void> {
  await new Promise((r) => setTimeout(r, afterMs));
  Deno.kill(pid, "SIGSTOP");
  await new Promise((r) => setTimeout(r, forMs));
  Deno.kill(pid, "SIGCONT");
}

/** The bare Hono + zod + postgres.js handler, as its own process, with the gateway's V8 flags. */
export function spawnBare(dbUrl: string): ServeProcess {
  return wrapChild(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", V8_FLAGS, new URL("./bare_handler.ts", import.meta.url).pathname, dbUrl],
      stdout: "piped",
      stderr: "piped",
    }).spawn(),
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rates: { type: "string", default: "20,300" },
      seconds: { type: "string", default: "10" },
      rounds: { type: "string", default: "2" },
      /** A rate offered for 5 s before each measured step (unmeasured). */
      before: { type: "string" },
      /**
       * Stops the server (SIGSTOP) for this many ms a third of the way into each measured step,
       * as a stall of the machine would (a noisy neighbour, swapping): does it catch up?
       */
      stall: { type: "string" },
      variant: { type: "string", multiple: true, default: ["default"] },
    },
  });
  const variants = values.variant.map(parseVariant);
  const rates = values.rates.split(",").map(Number);
  const seconds = Number(values.seconds);
  const bin = await findPgBin(["initdb", "pg_ctl"]);
  if (!bin) throw new Error("needs PostgreSQL's initdb and pg_ctl");
  const cluster = await startCluster(bin);
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  const up: Array<{ v: Variant; proc: ServeProcess; url: string; auth: string; dbUrl: string }> =
    [];
  try {
    for (const [i, v] of variants.entries()) {
      await admin.unsafe(`create database lat_${i}`);
      const dbUrl = cluster.url.replace(/\/postgres$/, `/lat_${i}`);
      if (v.name === "bare") {
        const proc = spawnBare(dbUrl);
        const port = JSON.parse(await proc.waitFor(/"port"/)).port;
        up.push({ v, proc, url: `http://127.0.0.1:${port}/`, auth: "none", dbUrl });
        await ingestLatency(`http://127.0.0.1:${port}/`, "none", 200, 2);
        continue;
      }
      const proc = spawn(v, dbUrl);
      const api = `http://127.0.0.1:${portFrom(await proc.waitFor(/"msg":"listening"/))}/api/v3`;
      const sample = await setUpSample(api);
      // Read and dropped unread (bench_intake.ts does the same), unless a trace is wanted.
      if (!v.v8?.includes("trace")) proc.mute();
      up.push({ v, proc, url: `${api}/aggregate`, auth: `Token ${sample.apiToken}`, dbUrl });
      await ingestLatency(`${api}/aggregate`, `Token ${sample.apiToken}`, 200, 2); // warm-up
    }
    for (let r = 0; r < Number(values.rounds); r++) {
      for (const rate of rates) {
        const order = r % 2 ? [...up].reverse() : up;
        for (const g of order) {
          // As in the bench, where the low rate follows the peak: a load that drops.
          if (values.before) await ingestLatency(g.url, g.auth, Number(values.before), 5, g.v.keys);
          const since = new Date();
          const before = await commits(g.dbUrl);
          const mark = g.proc.lines.length;
          const cores = Deno.build.os === "linux"
            ? await contention(
              g.proc.child.pid,
              String(cluster.port),
              g.v.name === "bare" ? "bare handler's" : "gateway",
            )
            : null;
          const stall = values.stall
            ? stallAfter(g.proc.child.pid, (WARMUP_S + seconds / 3) * 1000, Number(values.stall))
            : undefined;
          const res = await ingestLatency(g.url, g.auth, rate, seconds, g.v.keys, WARMUP_S);
          await stall;
          const waits = await cores?.();
          console.log(`round ${r + 1} ${g.v.name.padEnd(14)} ${describe(res)}`);
          if (stall) console.log(`  p99 by second: ${res.p99_by_second_ms.join(", ")} ms`);
          if (waits) console.log(`  ${waits.line}`);
          if (g.v.name !== "bare") console.log(`  ${await handlerTimes(g.dbUrl, since, before)}`);
          // With --trace-gc: the full collections during the step (V8 prints them on stdout).
          const gcs = g.proc.lines.slice(mark).filter((l) => /Mark-Compact/.test(l));
          if (g.v.v8?.includes("--trace-gc")) {
            console.log(
              `  full GCs during the step: ${gcs.length} (memory reducer: ${
                gcs.filter((l) => /\(reduce\)/.test(l)).length
              }); pauses ${gcs.map((l) => /, ([\d.]+) \/ [\d.]+ ms/.exec(l)?.[1]).join(", ")} ms`,
            );
          }
        }
      }
    }
  } finally {
    for (const g of up) {
      await g.proc.stop();
      if (g.v.v8?.includes("trace")) {
        await Deno.writeTextFile(`/tmp/lat_${g.v.name}.log`, g.proc.lines.join("\n"));
      }
    }
    await admin.end();
    await cluster.stop();
  }
}
