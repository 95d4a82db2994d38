/**
 * The intake half of `deno task bench` (issue 18): every figure is taken in one run on one
 * machine, and only ratios between figures of the same run are meant to be compared across
 * runs (the absolute numbers move with whatever else the machine is doing).
 *
 *   - pgbench single-row INSERTs (PostgreSQL's ceiling) and a bare Hono + zod + postgres.js
 *     handler inserting one row (any HTTP front's ceiling), both loaded like the gateway;
 *   - accepted/s of POST /api/v3/aggregate against `serve --no-worker` (external PostgreSQL),
 *     with its RSS sampled during the load and a few seconds after;
 *   - ingest latency p50/p99 at half the measured peak and at a low rate (20/s) under an
 *     open-loop load (bench_latency.ts), next to the bare handler's at the same rates;
 *   - idle memory of the embedded mode: PSS of every process (gateway and PostgreSQL).
 *
 * `--short [--check]` is the CI size of intake and delivery together (bench_check.ts).
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { bareApp } from "./bare_handler.ts";
import { portFrom, startServe } from "../tests/support/cli.ts";
import { CLUSTER_SETTINGS, findPgBin, startCluster } from "./pg_cluster.ts";
import {
  pssKb,
  ratio,
  RATIOS_FILE,
  recordSection,
  run,
  sampleRss,
  treePssMb,
  wrkPost,
} from "./perf_lib.ts";
import { ADMIN, SAMPLE_SUBMISSION, setUpSample } from "./sample.ts";
import { latencySteps } from "./bench_latency.ts";

const root = new URL("../", import.meta.url).pathname;
const body = JSON.stringify(SAMPLE_SUBMISSION);

export interface IntakeOptions {
  seconds: number;
  connections: number;
  embedded: boolean;
  /** The paced latency runs (half of peak, 20/s). */
  latency: boolean;
}

async function pgbenchInsert(binDir: string, port: number, o: IntakeOptions): Promise<number> {
  const script = await Deno.makeTempFile({ suffix: ".sql" });
  await Deno.writeTextFile(script, `insert into t (body) values ('{"orgUnit":"DiszpKrYNg8"}');\n`);
  const out = await run(`${binDir}/pgbench`, [
    ..."-n -M prepared -h 127.0.0.1 -U postgres -j 2".split(" "),
    "-p",
    String(port),
    "-c",
    String(o.connections),
    "-T",
    String(o.seconds),
    "-f",
    script,
    "pgbench_db",
  ]);
  await Deno.remove(script);
  return Math.round(Number(/tps = ([\d.]+)/.exec(out)?.[1]));
}

async function bareHono(url: string, o: IntakeOptions): Promise<number> {
  const sql = postgres(url, { max: o.connections, onnotice: () => {} });
  const srv = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    bareApp(sql).fetch,
  );
  try {
    return (await wrkPost(`http://127.0.0.1:${srv.addr.port}/`, body, o)).perSecond;
  } finally {
    await srv.shutdown();
    await sql.end();
  }
}

/** PSS of the embedded mode after it has started and sat idle for `idleSeconds`. */
export async function embeddedIdle(idleSeconds = 5): Promise<Record<string, number>> {
  const dataDir = await Deno.makeTempDir({ prefix: "dhis2gw-bench-embedded-" });
  // The embedded PostgreSQL runs as its own OS user when we are root: it must get in.
  await Deno.chmod(dataDir, 0o755);
  const gw = startServe(["serve"], {
    cwd: root,
    env: {
      DHIS2GW_DATA_DIR: dataDir,
      DHIS2GW_SERVER_PORT: "0",
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
    },
  });
  try {
    await gw.waitFor(/"msg":"listening"/, 180_000);
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const gateway = Math.round((await pssKb(gw.child.pid)) / 1024);
    const all = await treePssMb(gw.child.pid, dataDir);
    return {
      idle_pss_all_mb: all.mb,
      idle_pss_processes: all.processes,
      idle_pss_gateway_process_mb: gateway,
      idle_pss_postgres_mb: all.mb - gateway,
    };
  } finally {
    await gw.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

export async function benchIntake(o: IntakeOptions): Promise<Record<string, unknown>> {
  const bin = await findPgBin(["initdb", "pg_ctl", "pgbench"]);
  if (!bin) throw new Error("the benchmark needs PostgreSQL's initdb, pg_ctl and pgbench");
  const cluster = await startCluster(bin);
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  const r: Record<string, unknown> = {
    date: new Date().toISOString(),
    cpus: navigator.hardwareConcurrency,
    load_average: Deno.loadavg().join(" "),
    // Every bench row's cluster (pg_cluster.ts): thrown away, so durability is not measured.
    postgres: CLUSTER_SETTINGS,
    seconds: o.seconds,
    connections: o.connections,
  };
  try {
    await admin.unsafe("create database pgbench_db");
    const pbUrl = cluster.url.replace(/\/postgres$/, "/pgbench_db");
    const pb = postgres(pbUrl, { max: 1, onnotice: () => {} });
    await pb`create table t (id bigint generated always as identity primary key,
      body jsonb not null, created_at timestamptz not null default now())`;
    await pb.end();
    const pgbench = await pgbenchInsert(bin, cluster.port, o);
    const bare = await bareHono(pbUrl, o);
    console.log(`pgbench single-row inserts ${pgbench}/s; bare Hono+zod+postgres.js ${bare}/s`);

    await admin.unsafe("create database gateway");
    const dbUrl = cluster.url.replace(/\/postgres$/, "/gateway");
    const api = startServe(["serve", "--no-worker"], {
      cwd: root,
      env: {
        DHIS2GW_DB: dbUrl,
        DHIS2GW_SERVER_PORT: "0",
        DHIS2GW_HOST: "127.0.0.1",
        DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
        DHIS2GW_DB_POOL_MAX: String(o.connections),
      },
    });
    try {
      const port = portFrom(await api.waitFor(/"msg":"listening"/));
      const apiUrl = `http://127.0.0.1:${port}/api/v3`;
      const sample = await setUpSample(apiUrl);
      const auth = `Token ${sample.apiToken}`;
      // Its log lines (one per submission) still go to the pipe; the bench drops them unread.
      api.mute();
      // Warm-up (JIT, pools, caches) that the bare handler's process got from the bench itself.
      await wrkPost(`${apiUrl}/aggregate`, body, {
        ...o,
        seconds: Math.max(1, Math.round(o.seconds / 5)),
        auth,
      });
      const rss = sampleRss(api.child.pid);
      const load = await wrkPost(`${apiUrl}/aggregate`, body, { ...o, auth });
      const peak = await rss.stop();
      await new Promise((res) => setTimeout(res, 3000));
      const after = sampleRss(api.child.pid);
      await new Promise((res) => setTimeout(res, 300));
      const settled = await after.stop();
      console.log(`accepted ${load.perSecond}/s; serve RSS peak ${peak} MB, after ${settled} MB`);

      Object.assign(r, {
        pgbench_inserts_per_s: pgbench,
        bare_hono_insert_per_s: bare,
        accepted_per_s: load.perSecond,
        accepted_vs_bare_hono: ratio(load.perSecond, bare),
        accepted_vs_pgbench: ratio(load.perSecond, pgbench),
      });
      if (!o.latency) return r;
      // Open-loop, from the due time, next to the bare handler at the same rates (its own
      // process): what any HTTP front of this PostgreSQL gets on this machine at this moment.
      const latency = await latencySteps({
        url: `${apiUrl}/aggregate`,
        auth,
        bareDbUrl: pbUrl,
        peak: load.perSecond,
        seconds: o.seconds,
        log: console.log,
        gatewayPid: api.child.pid,
        pgPort: String(cluster.port),
      });
      Object.assign(r, {
        pgbench_inserts_per_s: pgbench,
        bare_hono_insert_per_s: bare,
        accepted_per_s: load.perSecond,
        wrk: load.lines,
        accepted_vs_bare_hono: ratio(load.perSecond, bare),
        accepted_vs_pgbench: ratio(load.perSecond, pgbench),
        serve_rss_peak_mb: peak,
        serve_rss_after_mb: settled,
        accepted_p50_ms: load.p50,
        accepted_p99_ms: load.p99,
        ...latency,
      });
    } finally {
      await api.stop();
    }
  } finally {
    await admin.end();
    await cluster.stop();
  }
  if (o.embedded) {
    Object.assign(r, await embeddedIdle());
    console.log(
      `embedded mode idle: PSS ${r.idle_pss_all_mb} MB over ${r.idle_pss_processes} ` +
        `processes (gateway process ${r.idle_pss_gateway_process_mb} MB, PostgreSQL ${r.idle_pss_postgres_mb} MB)`,
    );
  }
  return r;
}

/**
 * `deno task bench` starts here: `--profile` (bench_profile.ts), `--memory` (bench_memory.ts,
 * where serve's RSS goes under the intake load), `--ab <dir>` (bench_ab.ts) and
 * `--short [--check]` are
 * handled whole and return true; otherwise the intake figures are recorded and false returned,
 * so bench.ts goes on with the delivery figures. `--no-intake` skips this part.
 */
export async function benchMain(args: string[]): Promise<boolean> {
  if (args.some((a) => a === "--ab" || a.startsWith("--ab="))) {
    await (await import("./bench_ab.ts")).abMain(args);
    return true;
  }
  if (args.includes("--memory")) {
    const { benchMemory } = await import("./bench_memory.ts");
    const r = await benchMemory({ seconds: 20, connections: 32 });
    for (const [k, v] of Object.entries(r)) console.log(`${k}: ${JSON.stringify(v)}`);
    return true;
  }
  if (args.includes("--profile")) {
    await (await import("./bench_profile.ts")).profileMain(args);
    return true;
  }
  const { values } = parseArgs({
    args,
    strict: false,
    options: {
      seconds: { type: "string", default: "10" },
      connections: { type: "string", default: "32" },
      short: { type: "boolean", default: false },
      check: { type: "boolean", default: false },
      "no-embedded": { type: "boolean", default: false },
      "no-intake": { type: "boolean", default: false },
      "intake-only": { type: "boolean", default: false },
    },
  });
  if (values["no-intake"]) return false;
  if (values.short) {
    // Intake and delivery, a few seconds each (bench_check.ts).
    const ok = await (await import("./bench_check.ts")).shortMain(
      values.check === true,
      benchIntake,
    );
    if (!ok) Deno.exit(1);
    return true;
  }
  const result = await benchIntake({
    seconds: Number(values.seconds),
    connections: Number(values.connections),
    embedded: !values["no-embedded"],
    latency: true,
  });
  await recordSection("intake", result);
  console.log(`wrote ${RATIOS_FILE}`);
  return values["intake-only"] === true;
}

if (import.meta.main) await benchMain(Deno.args);
