/**
 * Issue 18's delivery row: delivered/s into an *instant* DHIS2 (the simulator with a zero cost
 * model, on its own thread) by `serve --worker-only` with batching off (batch.max_values 0: one
 * DHIS2 request per submission), next to graphile-worker 0.18 forwarding the same payloads to
 * the same endpoint at the same concurrency on the same PostgreSQL cluster, with its default
 * settings and with its batching preset (local queue 500, batch delays 0). What is left is the
 * queue's own cost per job: claim, send, record.
 *
 * Each side is timed from its first job's start to its last job's end (neither start-up counts):
 * ours from the database (first attempt's started_at, last delivery's finished_at, which is
 * when its outcome committed), graphile's inside its runner. Rounds alternate the three, and
 * the median of each goes into bench/results/ratios.json as `delivery_instant`. Every outcome is
 * checked (every submission delivered once, every value stored as sent).
 *
 *   deno run -A scripts/bench_delivery_instant.ts [--submissions 10000] [--concurrency 8]
 *     [--rounds 3] [--profile] [--skip-graphile] [--no-record] [--base <checkout>]
 *
 * `--base <dir>` also runs another checkout's worker (say `git archive main` unpacked) in each
 * round, for a before/after measured under the same load (`delivered_vs_base`).
 * `--profile` takes a CPU profile of our worker during its first round (through the inspector,
 * as bench_profile.ts does), writes bench/results/delivery_instant.cpuprofile and prints the
 * self time by module. `deno task bench` runs this after the costed delivery scenario.
 */
import { parseArgs } from "node:util";
import { connect } from "../src/db/db.ts";
import { migrate } from "../src/db/migrate.ts";
import { createLogger } from "../src/logs/logger.ts";
import { DEFAULT_PASSWORD, DEFAULT_USERNAME } from "../src/simulator/simulator.ts";
import { RUN_FLAGS, startServe } from "../tests/support/cli.ts";
import {
  checkOurs,
  checkStored,
  dropDatabase,
  freshDatabase,
  graphileOnSimulator,
  startSimThread,
  store,
} from "./bench_delivery.ts";
import { installGraphile } from "./bench_graphile.ts";
import { type CpuProfile, print, profiledServe, summarise } from "./bench_profile.ts";
import { cpuMs, pgCpuMs, ratio, recordSection, RESULTS_DIR, wrapChild } from "./perf_lib.ts";
import { benchDatabase } from "./pg_cluster.ts";
import { ADMIN } from "./sample.ts";

/** No cost: every import answers as fast as the simulator can parse and store it. */
const INSTANT = { fixedMs: 0, perValueMs: 0, concurrency: 1_000_000 };

export interface InstantOptions {
  serverUrl: string;
  submissions: number;
  concurrency: number;
  rounds: number;
  graphile: boolean;
  profile: boolean;
  /** Another checkout (say, main's) whose worker runs too, alternating with ours: before/after. */
  base?: string;
  log: (line: string) => void;
}

/** `serve --worker-only` of this checkout, or of `checkout`. */
function spawnWorker(env: Record<string, string>, checkout?: string) {
  if (!checkout) return startServe(["serve", "--worker-only"], { env });
  return wrapChild(
    new Deno.Command(Deno.execPath(), {
      args: [...RUN_FLAGS, `${checkout}/main.ts`, "serve", "--worker-only"],
      env: { PATH: Deno.env.get("PATH") ?? "", ...env },
      clearEnv: true,
      cwd: checkout,
      stdout: "piped",
      stderr: "piped",
    }).spawn(),
  );
}

interface Run {
  perSecond: number;
  ms: number;
  /** CPU time of the delivering process per job (wall time moves with the machine's load). */
  cpuMsPerJob: number;
  /** CPU time of the whole PostgreSQL cluster per job over the same span (ours only). */
  pgCpuMsPerJob?: number;
  problems: string[];
}

async function ours(
  o: InstantOptions,
  profile: boolean,
  checkout?: string,
): Promise<Run & { cpu?: CpuProfile }> {
  const url = await freshDatabase(o.serverUrl, "instant_ours");
  const quiet = createLogger({ level: "error", sink: () => {} });
  const sql = connect({ url, max: 4, log: quiet });
  const sim = await startSimThread(INSTANT);
  try {
    await migrate(sql, quiet);
    for (let i = 0; i < o.submissions; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, o.submissions - i) }, (_, k) => store(sql, i + k)),
      );
    }
    const env = {
      DHIS2GW_DB: url,
      DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: DEFAULT_USERNAME,
      DHIS2GW_DHIS2_PASSWORD: DEFAULT_PASSWORD,
      // The default destination allows 8 at once across replicas; graphile gets the same.
      DHIS2GW_MAX_CONCURRENT: String(o.concurrency),
      DHIS2GW_BATCH_MAX_VALUES: "0",
      DHIS2GW_LOG_LEVEL: "warn",
    };
    const profiled = profile ? await profiledServe(["serve", "--worker-only"], env) : undefined;
    if (profiled) await profiled.cdp.call("Profiler.start");
    const worker = profiled?.proc ?? spawnWorker(env, checkout);
    let cpu: CpuProfile | undefined;
    let cpuPerJob = NaN;
    let pgPerJob = NaN;
    const port = new URL(o.serverUrl).port;
    try {
      const until = Date.now() + 600_000;
      const pid = worker.child.pid;
      // The worker's CPU from (about) its first delivery: start-up is not the queue's cost.
      let first: { cpu: number; pg: number; done: number } | undefined;
      for (;;) {
        const [{ n, started }] = await sql<{ n: number; started: boolean }[]>`
          select count(*) filter (where status not in ('queued', 'running', 'retrying'))::int as n,
                 bool_or(status <> 'queued') as started
          from deliveries`;
        if (started && !first) first = { cpu: await cpuMs(pid), pg: await pgCpuMs(port), done: n };
        if (n >= o.submissions) {
          cpuPerJob = (await cpuMs(pid) - first!.cpu) / Math.max(1, n - first!.done);
          pgPerJob = (await pgCpuMs(port) - first!.pg) / Math.max(1, n - first!.done);
          break;
        }
        if (Date.now() > until) throw new Error(`only ${n} of ${o.submissions} finished`);
        await new Promise((r) => setTimeout(r, 100));
      }
      if (profiled) cpu = (await profiled.cdp.call("Profiler.stop")).profile as CpuProfile;
    } finally {
      profiled?.cdp.close();
      await worker.stop();
    }
    const [{ ms }] = await sql<{ ms: number }[]>`
      select extract(epoch from (select max(finished_at) from deliveries) -
                                (select min(started_at) from delivery_attempts))::float8 * 1000
             as ms`;
    const problems = await checkOurs(sql, o.submissions);
    const [{ attempts }] = await sql<{ attempts: number }[]>`
      select count(*)::int as attempts from delivery_attempts`;
    if (attempts !== o.submissions) {
      problems.push(`${attempts} attempts recorded, expected ${o.submissions}`);
    }
    const dump = await sim.dump();
    problems.push(...checkStored(dump.values, o.submissions));
    if (dump.imports !== o.submissions) {
      problems.push(`${dump.imports} imports, expected ${o.submissions} (one per submission)`);
    }
    return {
      perSecond: Math.round(o.submissions / (ms / 1000)),
      ms: Math.round(ms),
      cpuMsPerJob: round2(cpuPerJob),
      pgCpuMsPerJob: round2(pgPerJob),
      problems,
      cpu,
    };
  } finally {
    await sim.stop();
    await sql.end({ timeout: 5 });
    await dropDatabase(o.serverUrl, url);
  }
}

async function graphile(o: InstantOptions, dir: string, mode: "default" | "batched"): Promise<Run> {
  const { run, problems } = await graphileOnSimulator({
    serverUrl: o.serverUrl,
    dbName: `instant_graphile_${mode}`,
    dir,
    cost: INSTANT,
    concurrency: o.concurrency,
    mode,
    submissions: o.submissions,
  });
  const ms = run.fromFirstJobMs;
  return {
    perSecond: Math.round(o.submissions / (ms / 1000)),
    ms: Math.round(ms),
    cpuMsPerJob: round2(run.cpuFromFirstJobMs / o.submissions),
    problems,
  };
}

const round2 = (n: number) => Math.round(n * 100) / 100;
/** Median CPU ms per job of some runs (the medians work on hundredths). */
const cpuMedian = (rs: Run[]) => median(rs.map((r) => Math.round(r.cpuMsPerJob * 100))) / 100;

const pgMedian = (rs: Run[]) =>
  median(rs.map((r) => Math.round((r.pgCpuMsPerJob ?? NaN) * 100))) / 100;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? s[(s.length - 1) / 2]
    : Math.round((s[s.length / 2 - 1] + s[s.length / 2]) / 2);
};

export async function instantBench(o: InstantOptions) {
  const dir = o.graphile
    ? await installGraphile(await Deno.makeTempDir({ prefix: "bench-graphile-" }))
    : undefined;
  const runs: Record<"ours" | "base" | "graphile_default" | "graphile_batched", Run[]> = {
    ours: [],
    base: [],
    graphile_default: [],
    graphile_batched: [],
  };
  let cpu: CpuProfile | undefined;
  try {
    for (let r = 0; r < o.rounds; r++) {
      const mine = await ours(o, o.profile && r === 0);
      cpu ??= mine.cpu;
      runs.ours.push(mine);
      o.log(`round ${r + 1}: dhis2gw (batching off)      ${mine.perSecond}/s ${fmt(mine)}`);
      if (o.base) {
        const b = await ours(o, false, o.base);
        runs.base.push(b);
        o.log(`round ${r + 1}: base checkout (batching off) ${b.perSecond}/s ${fmt(b)}`);
      }
      if (dir) {
        for (const mode of ["default", "batched"] as const) {
          const g = await graphile(o, dir, mode);
          runs[`graphile_${mode}`].push(g);
          o.log(`round ${r + 1}: graphile-worker ${mode.padEnd(9)} ${g.perSecond}/s ${fmt(g)}`);
        }
      }
    }
  } finally {
    if (dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const ourRate = median(runs.ours.map((x) => x.perSecond));
  const out: Record<string, unknown> = {
    date: new Date().toISOString(),
    cpus: navigator.hardwareConcurrency,
    load_average: (await Deno.readTextFile("/proc/loadavg").catch(() => "")).split(" ")
      .slice(0, 3).join(" "),
    submissions: o.submissions,
    concurrency: o.concurrency,
    rounds: o.rounds,
    batch_max_values: 0,
    delivered_per_s: ourRate,
    delivered_per_s_rounds: runs.ours.map((x) => x.perSecond),
    cpu_ms_per_delivery: cpuMedian(runs.ours),
    pg_cpu_ms_per_delivery: pgMedian(runs.ours),
    outcomes_exact: Object.values(runs).flat().every((x) => x.problems.length === 0),
  };
  if (o.base) {
    const b = median(runs.base.map((x) => x.perSecond));
    Object.assign(out, {
      base: o.base,
      base_delivered_per_s: b,
      base_rounds: runs.base.map((x) => x.perSecond),
      base_cpu_ms_per_delivery: cpuMedian(runs.base),
      base_pg_cpu_ms_per_delivery: pgMedian(runs.base),
      delivered_vs_base: ratio(ourRate, b),
    });
  }
  if (dir) {
    const gd = median(runs.graphile_default.map((x) => x.perSecond));
    const gb = median(runs.graphile_batched.map((x) => x.perSecond));
    Object.assign(out, {
      graphile_default_per_s: gd,
      graphile_batched_per_s: gb,
      graphile_default_rounds: runs.graphile_default.map((x) => x.perSecond),
      graphile_batched_rounds: runs.graphile_batched.map((x) => x.perSecond),
      graphile_default_cpu_ms_per_job: cpuMedian(runs.graphile_default),
      graphile_batched_cpu_ms_per_job: cpuMedian(runs.graphile_batched),
      delivered_vs_graphile_default: ratio(ourRate, gd),
      delivered_vs_graphile_batched: ratio(ourRate, gb),
    });
  }
  const problems = Object.values(runs).flat().flatMap((x) => x.problems);
  if (problems.length) out.problems = problems.slice(0, 10);
  if (cpu) {
    await Deno.mkdir(RESULTS_DIR, { recursive: true });
    await Deno.writeTextFile(`${RESULTS_DIR}delivery_instant.cpuprofile`, JSON.stringify(cpu));
    const s = summarise(cpu);
    print("dhis2gw worker, instant DHIS2 (first round)", s);
    out.profile = { busy_ms: s.busy_ms, groups: s.groups.slice(0, 10) };
  }
  return out;
}

function fmt(r: Run): string {
  const pg = r.pgCpuMsPerJob === undefined ? "" : `, PostgreSQL ${r.pgCpuMsPerJob} ms`;
  return `(${r.ms} ms, ${r.cpuMsPerJob} ms CPU per job${pg})${
    r.problems.length ? ` PROBLEMS: ${r.problems.join("; ")}` : ""
  }`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      submissions: { type: "string", default: "10000" },
      concurrency: { type: "string", default: "8" },
      rounds: { type: "string", default: "3" },
      profile: { type: "boolean", default: false },
      "skip-graphile": { type: "boolean", default: false },
      "no-record": { type: "boolean", default: false },
      base: { type: "string" },
    },
  });
  const db = await benchDatabase("bench_instant_admin");
  try {
    const out = await instantBench({
      serverUrl: db.url,
      submissions: Number(values.submissions),
      concurrency: Number(values.concurrency),
      rounds: Number(values.rounds),
      graphile: !values["skip-graphile"],
      profile: values.profile,
      base: values.base,
      log: console.log,
    });
    console.log(JSON.stringify(out, null, 2));
    if (!values["no-record"]) {
      await recordSection("delivery_instant", out);
      console.log(`recorded delivery_instant in ${RESULTS_DIR}ratios.json`);
    }
    if (out.outcomes_exact !== true) Deno.exit(1);
  } finally {
    await db.stop();
  }
}
