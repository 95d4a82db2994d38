/**
 * The delivery scenario of `deno task bench` (issue 13): N submissions of 10 values each, all
 * queued, drained into a DHIS2 simulator that costs what a modest server costs (150 ms per
 * import + 0.05 ms per value, 4 imports at once, the rest queue). Wall time and values/s for
 * (a) batching off, (b) batching on at several batch.max_values, (c) graphile-worker 0.18
 * forwarding one request per job (default settings, and its batching preset: local queue 500,
 * batch delays 0), each next to the ceiling the cost model allows: every import slot busy all
 * the time. Every outcome is checked exactly (every submission delivered, every value stored).
 *
 *   deno run -A scripts/bench_delivery.ts [--submissions 10000] [--skip-graphile]
 *     [--max-values 0,500,2000,5000,10000] [--concurrency 8] [--out delivery.json] [--timeline]
 *     [--rounds 5]
 *
 * Each batching scenario runs `--rounds` times, each on a freshly filled queue, and reports the
 * round with the median wall time, every round listed beside it: on a shared 2-core machine the
 * same run swings by a quarter (the simulator's own work per import, on the same cores, is the
 * tell: 97-160 ms for identical imports). Batching off and graphile-worker (minutes each) run once.
 *
 * `deno task bench` runs it after the submission benchmark; tests/bench_delivery_test.ts runs a
 * scaled-down one (1,000 submissions, a cheaper cost model) and checks the outcomes only.
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { AGGREGATE, aggregateBatching, aggregateKind } from "../src/aggregate/kind.ts";
import { aggregateOrderingKey } from "../src/aggregate/ordering_key.ts";
import { createDhis2Client, type DataValueSetPayload } from "../src/dhis2/client.ts";
import { connect } from "../src/db/db.ts";
import { migrate } from "../src/db/migrate.ts";
import { createLogger } from "../src/logs/logger.ts";
import type { DeliveryKind } from "../src/queue/kind.ts";
import { enqueue } from "../src/queue/queries.ts";
import { Wakeup } from "../src/queue/wakeup.ts";
import { Worker } from "../src/queue/worker.ts";
import { DEFAULT_PASSWORD, DEFAULT_USERNAME } from "../src/simulator/simulator.ts";
import {
  type CostModel,
  type CostStats,
  DEFAULT_COST,
  ImportCost,
} from "../src/simulator/simulator_cost.ts";
import { type GraphileRun, installGraphile, runGraphile } from "./bench_graphile.ts";
import { cpuMs, machineCpuMs, pgCpuMs } from "./perf_lib.ts";

const DATA_SET = "pBOMPrpg1QX";
const VALUES_EACH = 10;
const ORG_UNITS = 100;

export interface DeliveryBenchOptions {
  /** A PostgreSQL server URL whose user may create databases. */
  serverUrl: string;
  submissions: number;
  cost: CostModel;
  /** batch.max_values to try; 0 is "batching off". */
  maxValues: number[];
  /** Deliveries (ours) or jobs (graphile-worker) in flight; above the simulator's slots. */
  workerConcurrency: number;
  graphile: boolean;
  /** Prefix of the databases each scenario creates (and drops first). */
  dbPrefix?: string;
  log?: (line: string) => void;
  /** Prints each batch's import start/end and record end (ms from the start; batching only). */
  timeline?: boolean;
  /** Runs of each batching scenario; the median one is reported (default 1). */
  rounds?: number;
}

export interface ScenarioResult {
  scenario: string;
  maxValues: number | null;
  imports: number;
  wallMs: number;
  valuesPerSecond: number;
  ceilingMs: number;
  ceilingValuesPerSecond: number;
  ofCeiling: number;
  outcomesExact: boolean;
  problems: string[];
  /** The simulator's own work per import, and imports it took longer over than the model. */
  simulator?: { workMsPerImport: number; overruns: number; lateMsPerImport: number };
  /**
   * CPU spent while the queue drained (Linux): the PostgreSQL cluster's, this process's (the
   * worker and the simulator's thread), the whole machine's (the rest is other processes) and
   * what the hypervisor stole. Near the CPUs × the wall time, the machine is the bound.
   */
  cpu?: { postgresMs: number; processMs: number; machineMs: number; stolenMs: number };
  /** With several rounds: each one's share of the ceiling and simulator work (this is the median). */
  rounds?: Array<{ wallMs: number; ofCeiling: number; simulatorWorkMsPerImport?: number }>;
}

const uid = (prefix: string, i: number) =>
  `${prefix}${String(i).padStart(11 - prefix.length, "0")}`;

/** Submission i: its org unit and period make its key unique; value j of data element j. */
export function payloadOf(i: number): DataValueSetPayload {
  const n = Math.floor(i / ORG_UNITS);
  return {
    dataSet: DATA_SET,
    period: `${1990 + Math.floor(n / 12)}${String(1 + (n % 12)).padStart(2, "0")}`,
    orgUnit: uid("ouBench", i % ORG_UNITS),
    dataValues: Array.from({ length: VALUES_EACH }, (_, j) => ({
      dataElement: uid("deBench", j),
      value: String(i * VALUES_EACH + j),
    })),
  };
}

export function benchMetadata() {
  return {
    organisationUnits: Array.from({ length: ORG_UNITS }, (_, i) => ({
      id: uid("ouBench", i),
      name: `Bench ${i}`,
      parent: "ImspTQPwCqd",
    })),
    dataElements: Array.from({ length: VALUES_EACH }, (_, j) => ({
      id: uid("deBench", j),
      name: `Bench element ${j}`,
      valueType: "INTEGER",
      zeroIsSignificant: true,
      categoryCombo: "bjDvmb4bfuf",
    })),
  };
}

export interface SimThread {
  url: string;
  dump(): Promise<
    { values: Array<[string, string, string, string | null]>; imports: number; stats: CostStats }
  >;
  stop(): Promise<void>;
}

/** The simulator on its own thread (bench_sim_thread.ts says why). */
export async function startSimThread(cost: CostModel): Promise<SimThread> {
  const thread = new globalThis.Worker(new URL("./bench_sim_thread.ts", import.meta.url), {
    type: "module",
  });
  const next = <T>(type: string) =>
    new Promise<T>((resolve) => {
      const on = (e: MessageEvent) => {
        if (e.data.type !== type) return;
        thread.removeEventListener("message", on);
        resolve(e.data as T);
      };
      thread.addEventListener("message", on);
    });
  const started = next<{ url: string }>("started");
  thread.postMessage({ type: "start", cost, metadata: benchMetadata() });
  const { url } = await started;
  return {
    url,
    dump: () => {
      const p = next<Awaited<ReturnType<SimThread["dump"]>>>("dump");
      thread.postMessage({ type: "dump" });
      return p;
    },
    stop: async () => {
      const p = next("stopped");
      thread.postMessage({ type: "stop" });
      await p;
      thread.terminate();
    },
  };
}

export async function dropDatabase(serverUrl: string, url: string): Promise<void> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${new URL(url).pathname.slice(1)} with (force)`)
    .catch(() => {});
  await admin.end();
}

export async function freshDatabase(serverUrl: string, name: string): Promise<string> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * CPU used so far by this process, the PostgreSQL cluster on `port` and the machine; null where
 * /proc cannot be read (another OS, or without --allow-all: the scaled-down test's permissions).
 */
async function cpuNow(port: string) {
  try {
    return { me: await cpuMs(Deno.pid), pg: await pgCpuMs(port), machine: await machineCpuMs() };
  } catch {
    return null;
  }
}

async function ours(o: DeliveryBenchOptions, maxValues: number): Promise<ScenarioResult> {
  const scenario = maxValues ? `(b) batching, max_values ${maxValues}` : "(a) batching off";
  const url = await freshDatabase(o.serverUrl, `${o.dbPrefix ?? "bench"}_delivery_${maxValues}`);
  const quiet = createLogger({ level: "error", sink: () => {} });
  const sql = connect({ url, max: 10, log: quiet });
  const sim = await startSimThread(o.cost);
  try {
    await migrate(sql, quiet);
    // Queued before the clock starts, 20 at a time.
    for (let i = 0; i < o.submissions; i += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, o.submissions - i) }, (_, k) => store(sql, i + k)),
      );
    }
    const timeline = new Timeline(() => performance.now() - t0);
    let finished = 0;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const client = createDhis2Client({
      baseUrl: sim.url,
      auth: { method: "basic", username: DEFAULT_USERNAME, password: DEFAULT_PASSWORD },
      connectTimeoutMs: 60_000,
      timeoutMs: 120_000,
    });
    const worker = new Worker({
      sql,
      log: quiet,
      kinds: [timeline.wrap(aggregateKind({ client, saveResponse: false }), o.timeline)],
      // As `serve` runs it: the destination's claim, its concurrency counted in the database.
      destination: "default",
      limits: { name: "default", maxConcurrent: o.workerConcurrency, ratePerSecond: 0 },
      wakeup: new Wakeup(),
      maxConcurrent: o.workerConcurrency,
      leaseSeconds: 300,
      pollIntervalMs: 1000,
      backoff: { baseSeconds: 1, maxSeconds: 5, jitter: 0.2 },
      ...(maxValues ? { batch: { maxValues, maxWaitMs: 0 } } : {}),
      onAttempt: (e) => {
        if (o.timeline) timeline.attempt(e.deliveryId);
        if (e.outcome !== "retry" && e.outcome !== "snoozed" && ++finished === o.submissions) {
          done();
        }
      },
    });
    const port = new URL(o.serverUrl).port || "5432";
    const cpu0 = await cpuNow(port);
    const t0 = performance.now();
    worker.start();
    await all;
    const wallMs = performance.now() - t0;
    const cpu1 = await cpuNow(port);
    const cpu = cpu0 && cpu1
      ? {
        processMs: cpu1.me - cpu0.me,
        postgresMs: cpu1.pg - cpu0.pg,
        machineMs: cpu1.machine.busy - cpu0.machine.busy,
        stolenMs: cpu1.machine.steal - cpu0.machine.steal,
      }
      : undefined;
    await worker.stop(10_000);
    if (o.timeline) { for (const line of timeline.lines()) (o.log ?? console.log)(line); }
    const problems = await checkOurs(sql, o.submissions);
    const dump = await sim.dump();
    problems.push(...checkStored(dump.values, o.submissions));
    const imports = dump.imports;
    return result(o, scenario, maxValues || null, imports, wallMs, problems, {
      workMsPerImport: Math.round((dump.stats.workMs / Math.max(1, imports)) * 10) / 10,
      overruns: dump.stats.overruns,
      lateMsPerImport: Math.round((dump.stats.lateMs / Math.max(1, imports)) * 10) / 10,
    }, cpu);
  } finally {
    await sim.stop();
    await sql.end({ timeout: 5 });
    await dropDatabase(o.serverUrl, url);
  }
}

/**
 * Where a run's time goes, batch by batch: when its import started (the claim and attachNewer
 * before it are done), when the import returned, and when the first outcome was recorded. The
 * ideal pipeline keeps the simulator's slots busy from the first claim to the last record.
 */
class Timeline {
  readonly #batches: {
    first: number;
    start: number;
    end?: number;
    recorded?: number;
    /** The import's own HTTP exchange (the first, for a split batch). */
    http?: number;
  }[] = [];
  readonly #byDelivery = new Map<number, number>();
  constructor(readonly clock: () => number) {}

  wrap(kind: DeliveryKind, on = true): DeliveryKind {
    const batch = kind.batch;
    if (!batch || !on) return kind;
    return {
      name: kind.name,
      deliver: (d, ctx) => kind.deliver(d, ctx),
      batch: {
        deliverBatch: async (group, ctx) => {
          const i = this.#batches.push({ first: group[0].id, start: this.clock() }) - 1;
          for (const d of group) this.#byDelivery.set(d.id, i);
          try {
            const r = await batch.deliverBatch(group, ctx);
            this.#batches[i].http = r.exchanges[0]?.durationMs;
            return r;
          } finally {
            this.#batches[i].end = this.clock();
          }
        },
      },
    };
  }

  attempt(deliveryId: number): void {
    const i = this.#byDelivery.get(deliveryId);
    if (i !== undefined) this.#batches[i].recorded ??= this.clock();
  }

  lines(): string[] {
    const ms = (n?: number) => (n === undefined ? "-" : String(Math.round(n))).padStart(6);
    return this.#batches.map((b, i) =>
      `  batch ${String(i + 1).padStart(3)} (from delivery ${b.first}): import ${ms(b.start)} ->` +
      `${ms(b.end)} ms (HTTP ${ms(b.http)} ms), recorded ${ms(b.recorded)} ms`
    );
  }
}

export function store(sql: ReturnType<typeof connect>, i: number) {
  const payload = payloadOf(i);
  return enqueue(sql, {
    userUid: "uBench00001",
    username: "bench",
    sourceName: "default",
    idempotencyKey: null,
    requestHash: String(i),
    orgUnit: payload.orgUnit!,
    orgUnitName: null,
    period: payload.period!,
    dataSet: DATA_SET,
    kind: AGGREGATE,
    requestJson: "{}",
    payload,
    codes: payload.dataValues.map((_, j) => `CODE${j}`),
    unmappedCodes: [],
    deliveries: [{
      destination: "default",
      kind: AGGREGATE,
      orderingKey: aggregateOrderingKey(payload.orgUnit!, payload.period!),
      maxAttempts: 9,
      ...aggregateBatching(payload),
    }],
  });
}

export async function checkOurs(sql: ReturnType<typeof connect>, n: number): Promise<string[]> {
  const rows = await sql<{ status: string; n: number }[]>`
    select status, count(*)::int as n from deliveries group by status order by status`;
  const delivered = rows.find((r) => r.status === "delivered")?.n ?? 0;
  return delivered === n
    ? []
    : [`deliveries by status: ${JSON.stringify(rows)}, expected ${n} delivered`];
}

export function checkStored(
  stored: Array<[string, string, string, string | null]>,
  n: number,
): string[] {
  const problems: string[] = [];
  if (stored.length !== n * VALUES_EACH) {
    problems.push(`DHIS2 holds ${stored.length} values, expected ${n * VALUES_EACH}`);
  }
  const byKey = new Map(stored.map(([ou, pe, de, value]) => [`${ou}|${pe}|${de}`, value]));
  for (let i = 0; i < n && problems.length < 5; i++) {
    const p = payloadOf(i);
    for (const dv of p.dataValues) {
      const got = byKey.get(`${p.orgUnit}|${p.period}|${dv.dataElement}`);
      if (got !== dv.value) {
        problems.push(`submission ${i}: ${dv.dataElement} is ${got}, expected ${dv.value}`);
      }
    }
  }
  return problems;
}

/**
 * graphile-worker forwarding payloadOf(0..n-1) into a simulator with `cost`, on a fresh database:
 * its run, the imports the simulator counted, and what is missing or wrong (checkStored).
 */
export async function graphileOnSimulator(
  o: {
    serverUrl: string;
    dbName: string;
    dir: string;
    cost: CostModel;
    concurrency: number;
    mode: "default" | "batched";
    submissions: number;
  },
): Promise<{ run: GraphileRun; imports: number; problems: string[] }> {
  const url = await freshDatabase(o.serverUrl, o.dbName);
  const sim = await startSimThread(o.cost);
  try {
    const run = await runGraphile(o.dir, {
      databaseUrl: url,
      importUrl: `${sim.url}/api/dataValueSets`,
      authorization: `Basic ${btoa(`${DEFAULT_USERNAME}:${DEFAULT_PASSWORD}`)}`,
      concurrency: o.concurrency,
      mode: o.mode,
      payloads: Array.from({ length: o.submissions }, (_, i) => payloadOf(i)),
    });
    const dump = await sim.dump();
    const problems = checkStored(dump.values, o.submissions);
    if (run.ok !== o.submissions) {
      problems.push(`${run.ok} jobs succeeded, expected ${o.submissions}`);
    }
    return { run, imports: dump.imports, problems };
  } finally {
    await sim.stop();
    await dropDatabase(o.serverUrl, url);
  }
}

async function graphile(
  o: DeliveryBenchOptions,
  dir: string,
  mode: "default" | "batched",
): Promise<ScenarioResult> {
  const { run, imports, problems } = await graphileOnSimulator({
    serverUrl: o.serverUrl,
    dbName: `${o.dbPrefix ?? "bench"}_graphile_${mode}`,
    dir,
    cost: o.cost,
    concurrency: o.workerConcurrency,
    mode,
    submissions: o.submissions,
  });
  const scenario = `(c) graphile-worker 0.18, ${
    mode === "batched" ? "local queue 500, batch delays 0" : "default settings"
  }`;
  return result(o, scenario, null, imports, run.wallMs, problems);
}

function result(
  o: DeliveryBenchOptions,
  scenario: string,
  maxValues: number | null,
  imports: number,
  wallMs: number,
  problems: string[],
  simulator?: ScenarioResult["simulator"],
  cpu?: ScenarioResult["cpu"],
): ScenarioResult {
  const values = o.submissions * VALUES_EACH;
  const perImport = maxValues ? Math.min(maxValues, values) : VALUES_EACH;
  const ceilingMs = ImportCost.ceilingMs(o.cost, Math.ceil(values / perImport), perImport);
  const r: ScenarioResult = {
    scenario,
    maxValues,
    imports,
    wallMs: Math.round(wallMs),
    valuesPerSecond: Math.round(values / (wallMs / 1000)),
    ceilingMs: Math.round(ceilingMs),
    ceilingValuesPerSecond: Math.round(values / (ceilingMs / 1000)),
    ofCeiling: Math.round((ceilingMs / wallMs) * 1000) / 10,
    outcomesExact: problems.length === 0,
    problems,
    ...(simulator ? { simulator } : {}),
    ...(cpu ? { cpu } : {}),
  };
  o.log?.(
    `${scenario.padEnd(58)} ${String(r.wallMs).padStart(8)} ms ${
      String(r.valuesPerSecond).padStart(7)
    } values/s` +
      `  ceiling ${String(r.ceilingValuesPerSecond).padStart(7)} values/s (${r.ofCeiling} %)` +
      `  imports ${imports}  outcomes ${r.outcomesExact ? "exact" : problems.join("; ")}` +
      (simulator
        ? `  simulator ${simulator.workMsPerImport} ms/import, ${simulator.overruns} over the model, ${simulator.lateMsPerImport} ms/import late`
        : "") +
      (cpu
        ? `  CPU: PostgreSQL ${Math.round(cpu.postgresMs)} ms, worker + simulator thread ${
          Math.round(cpu.processMs)
        } ms, anything else ${
          Math.max(0, Math.round(cpu.machineMs - cpu.postgresMs - cpu.processMs))
        } ms, stolen ${cpu.stolenMs} ms (${navigator.hardwareConcurrency} CPUs × ${r.wallMs} ms wall)`
        : ""),
  );
  return r;
}

export async function deliveryBench(o: DeliveryBenchOptions): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = [];
  for (const m of o.maxValues) {
    const n = m > 0 ? Math.max(1, o.rounds ?? 1) : 1;
    const runs: ScenarioResult[] = [];
    for (let i = 0; i < n; i++) runs.push(await ours(o, m));
    if (n === 1) {
      out.push(runs[0]);
      continue;
    }
    const median = [...runs].sort((a, b) => a.wallMs - b.wallMs)[Math.floor(n / 2)];
    const rounds = runs.map((r) => ({
      wallMs: r.wallMs,
      ofCeiling: r.ofCeiling,
      ...(r.simulator ? { simulatorWorkMsPerImport: r.simulator.workMsPerImport } : {}),
    }));
    o.log?.(
      `  median of ${n} rounds: ${median.ofCeiling} % of the ceiling (rounds: ${
        rounds.map((r) => `${r.ofCeiling} %`).join(", ")
      }); outcomes ${runs.every((r) => r.outcomesExact) ? "exact in every round" : "NOT exact"}`,
    );
    out.push({
      ...median,
      outcomesExact: runs.every((r) => r.outcomesExact),
      problems: runs.flatMap((r) => r.problems),
      rounds,
    });
  }
  if (o.graphile) {
    const dir = await installGraphile(await Deno.makeTempDir({ prefix: "bench-graphile-" }));
    try {
      out.push(await graphile(o, dir, "default"));
      out.push(await graphile(o, dir, "batched"));
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
  return out;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      submissions: { type: "string", default: "10000" },
      concurrency: { type: "string", default: "8" },
      "skip-graphile": { type: "boolean", default: false },
      "max-values": { type: "string", default: "0,500,2000,5000,10000" },
      out: { type: "string", default: "delivery.json" },
      timeline: { type: "boolean", default: false },
      rounds: { type: "string", default: "5" },
    },
  });
  const { benchDatabase } = await import("./pg_cluster.ts");
  const db = await benchDatabase("bench_delivery_admin");
  try {
    const opts: DeliveryBenchOptions = {
      serverUrl: db.url,
      submissions: Number(values.submissions),
      cost: DEFAULT_COST,
      maxValues: values["max-values"].split(",").map(Number),
      workerConcurrency: Number(values.concurrency),
      graphile: !values["skip-graphile"],
      log: console.log,
      timeline: values.timeline,
      rounds: Number(values.rounds),
    };
    console.log(
      `delivery: ${opts.submissions} submissions × ${VALUES_EACH} values; DHIS2 costs ` +
        `${opts.cost.fixedMs} ms + ${opts.cost.perValueMs} ms/value, ${opts.cost.concurrency} at once; ` +
        `${opts.workerConcurrency} in flight; ${navigator.hardwareConcurrency} CPUs; ${db.label}`,
    );
    // The machine may be shared: its load next to the figures (1, 5, 15 minute averages).
    const loadBefore = Deno.loadavg();
    const results = await deliveryBench(opts);
    const loadAfter = Deno.loadavg();
    await Deno.mkdir(new URL("../bench/results/", import.meta.url), { recursive: true });
    const file = new URL(`../bench/results/${values.out}`, import.meta.url);
    await Deno.writeTextFile(
      file,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          machine: {
            cpus: navigator.hardwareConcurrency,
            deno: Deno.version.deno,
            loadAverage: { before: loadBefore, after: loadAfter },
          },
          database: db.label,
          submissions: opts.submissions,
          valuesEach: VALUES_EACH,
          cost: opts.cost,
          workerConcurrency: opts.workerConcurrency,
          results,
        },
        null,
        2,
      ) + "\n",
    );
    console.log(`wrote ${file.pathname}`);
  } finally {
    await db.stop();
  }
}
