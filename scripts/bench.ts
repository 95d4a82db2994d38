/**
 * `deno task bench`: throughput of the submission path on this machine, next to PostgreSQL's
 * own single-row insert rate measured in the same run, written to bench/results/.
 *
 *   1. pgbench: one-row INSERTs into a jsonb table at --connections clients (the ceiling).
 *   2. references, with wrk only: a bare Hono + zod + postgres.js handler inserting that row
 *      (what any HTTP front of PostgreSQL costs here), and pgbench running the submission's
 *      own INSERT (same columns, indexes and values: PostgreSQL's ceiling for our write).
 *   3. accepted/s: POST /api/v3/aggregate (Token auth, mapping, validation, durable commit of
 *      the submission and its job) against `serve --no-worker`, loaded by wrk when installed
 *      (`apt-get install wrk`), else by an in-process fetch loop (which steals CPU: lower).
 *   4. delivered/s: `serve --worker-only` draining what step 3 queued into the DHIS2 simulator.
 *   5. the delivery scenario (scripts/bench_delivery.ts): 100,000 values into a simulator that
 *      costs what a DHIS2 costs, batching off and on, and graphile-worker; then delivery into an
 *      instant DHIS2 against graphile-worker (scripts/bench_delivery_instant.ts, 5,000
 *      submissions, 3 rounds), and accept→delivered of lone submissions at idle
 *      (scripts/bench_idle_delivery.ts); skip all three with --skip-delivery.
 *   6. tracker events accepted/s and delivered/s (scripts/bench_tracker.ts).
 *
 * Options: --seconds N (load duration, default 10), --connections N (default 32).
 * Every ratio goes into bench/results/ratios.json, one section per bench: `intake` (issue 18's
 * intake ratios, latency and memory, from bench_intake.ts, first; --no-intake skips it,
 * --no-embedded skips the embedded start, --intake-only stops there), `submissions`,
 * `delivery_cost_model` and `delivery_instant`. --short [--check] is the CI size (intake and
 * instant delivery, bench_check.ts), --profile writes CPU profiles, --ab <dir> compares this
 * checkout with another in one run.
 */
import { Hono } from "hono";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { DB_SCHEMA } from "../src/db/schema.ts";
import { z } from "zod";
import { startSimulator } from "../src/simulator/simulator.ts";
import { portFrom, startServe } from "../tests/support/cli.ts";
import { benchDatabase, findPgBin, startCluster } from "./pg_cluster.ts";
import { ADMIN, callApi, SAMPLE_SUBMISSION, setUpSample } from "./sample.ts";
import { benchTracker } from "./bench_tracker.ts";
import { benchMain } from "./bench_intake.ts";
import { instantBench } from "./bench_delivery_instant.ts";
import { idleDelivery } from "./bench_idle_delivery.ts";
import { RATIOS_FILE, recordSection } from "./perf_lib.ts";

// Issue 18's figures (intake ratios, memory, latency; --profile; --short --check) first.
if (await benchMain(Deno.args)) Deno.exit(0);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "10" },
    connections: { type: "string", default: "32" },
    "skip-delivery": { type: "boolean", default: false },
    "no-embedded": { type: "boolean", default: false },
    "no-intake": { type: "boolean", default: false },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const root = new URL("../", import.meta.url).pathname;

const bin = await findPgBin(["initdb", "pg_ctl", "pgbench"]);
if (!bin) throw new Error("the benchmark needs PostgreSQL's initdb, pg_ctl and pgbench");
const cluster = await startCluster(bin);
const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: { cpus: navigator.hardwareConcurrency, deno: Deno.version.deno },
  seconds,
  connections,
};

async function which(cmd: string): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      await Deno.stat(`${dir}/${cmd}`);
      return `${dir}/${cmd}`;
    } catch { /* next */ }
  }
}

async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} failed:\n${text}`);
  return text;
}

async function pgbench(db: string, sqlText: string): Promise<number> {
  const script = await Deno.makeTempFile({ suffix: ".sql" });
  await Deno.writeTextFile(script, sqlText + "\n");
  const out = await run(`${bin}/pgbench`, [
    "-n",
    "-M",
    "prepared",
    "-h",
    "127.0.0.1",
    "-p",
    String(cluster.port),
    "-U",
    "postgres",
    "-c",
    String(connections),
    "-j",
    "2",
    "-T",
    String(seconds),
    "-f",
    script,
    db,
    // The gateway's tables are in its own schema (src/db/schema.ts); pgbench_db's are in public.
  ], { PGOPTIONS: `-c search_path=${DB_SCHEMA},public` });
  return Number(/tps = ([\d.]+)/.exec(out)?.[1]);
}

/** wrk POSTing `body` to `url` for --seconds at --connections; its summary lines. */
async function wrkPost(wrk: string, url: string, body: string, auth?: string): Promise<string[]> {
  const lua = await Deno.makeTempFile({ suffix: ".lua" });
  await Deno.writeTextFile(
    lua,
    `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\n` +
      `wrk.headers["Content-Type"] = "application/json"\n` +
      (auth ? `wrk.headers["Authorization"] = ${JSON.stringify(auth)}\n` : ""),
  );
  const out = await run(wrk, ["-t1", `-c${connections}`, `-d${seconds}s`, "-s", lua, url]);
  return out.trim().split("\n").filter((l) => /Latency|Req\/Sec|Non-2xx|requests in/.test(l));
}

const body = JSON.stringify(SAMPLE_SUBMISSION);
const wrk = await which("wrk");

try {
  // 1. PostgreSQL's own rate for the same shape of write.
  await admin.unsafe("create database pgbench_db");
  const pb = postgres(cluster.url.replace(/\/postgres$/, "/pgbench_db"), { max: 1 });
  await pb`create table t (id bigint generated always as identity primary key, body jsonb not null,
    created_at timestamptz not null default now())`;
  await pb.end();
  const tps = await pgbench(
    "pgbench_db",
    `insert into t (body) values ('{"orgUnit":"DiszpKrYNg8"}');`,
  );
  results.pgbench_inserts_per_s = Math.round(tps);
  console.log(`pgbench single-row inserts: ${Math.round(tps)}/s`);

  // 2a. A bare HTTP front of the same insert, in this process (wrk is the other process).
  if (wrk) {
    const pbSql = postgres(cluster.url.replace(/\/postgres$/, "/pgbench_db"), {
      max: connections,
      onnotice: () => {},
    });
    const schema = z.object({
      orgUnit: z.string(),
      period: z.string(),
      dataValues: z.record(z.string(), z.unknown()),
    });
    const bare = new Hono().post("/", async (c) => {
      const b = schema.parse(await c.req.json());
      const [r] = await pbSql`insert into t (body) values (${JSON.stringify(b)}::text::jsonb)
        returning id`;
      return c.json({ id: r.id });
    });
    const srv = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, bare.fetch);
    const lines = await wrkPost(wrk, `http://127.0.0.1:${srv.addr.port}/`, body);
    await srv.shutdown();
    await pbSql.end();
    const n = Number(/(\d+) requests in ([\d.]+)s/.exec(lines.join(" "))?.[1]);
    const secs = Number(/requests in ([\d.]+)s/.exec(lines.join(" "))?.[1]);
    results.bare_hono_insert_per_s = Math.round(n / secs);
    console.log(
      `bare Hono + zod + postgres.js insert handler: ${results.bare_hono_insert_per_s}/s`,
    );
  }

  // 3. Accepted submissions per second.
  await admin.unsafe("create database gateway");
  const dbUrl = cluster.url.replace(/\/postgres$/, "/gateway");
  const env = {
    DHIS2GW_DB: dbUrl,
    DHIS2GW_SERVER_PORT: "0",
    DHIS2GW_HOST: "127.0.0.1",
    DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
    DHIS2GW_DB_POOL_MAX: String(connections),
  };
  const api = startServe(["serve", "--no-worker"], { env, cwd: root });
  const port = portFrom(await api.waitFor(/"msg":"listening"/));
  const apiUrl = `http://127.0.0.1:${port}/api/v3`;
  const sample = await setUpSample(apiUrl);
  const gw = postgres(dbUrl, {
    max: 1,
    onnotice: () => {},
    connection: { search_path: DB_SCHEMA },
  });

  // 2b. PostgreSQL's ceiling for the submission's own INSERT (the row one POST stores).
  if (wrk) {
    const one = await callApi(apiUrl, "/aggregate", {
      method: "POST",
      body,
      headers: { Authorization: `Token ${sample.apiToken}` },
    });
    // jsonb's own text has a space after each colon: pgbench reads `:name` as a variable.
    // The statement is the route's (queue/queries.ts enqueue): the submission and its delivery.
    const [row] = await gw`select *, request::text as request, payload::text as payload
      from submissions where id = ${one.submission_id as number}`;
    const lit = (v: unknown) =>
      v === null ? "null" : `$lit$${typeof v === "string" ? v : JSON.stringify(v)}$lit$`;
    const arr = (a: string[]) => `array[${a.map(lit).join(", ")}]::text[]`;
    const [delivery] = await gw`select ordering_key, max_attempts from deliveries
      where submission_id = ${one.submission_id as number}`;
    const insert = `with sub as (insert into submissions (user_uid, username, source_name,
      idempotency_key, request_hash, org_unit, org_unit_name, period, data_set, kind, request,
      payload, codes, unmapped_codes) values (${
      [
        row.user_uid,
        row.username,
        row.source_name,
        null,
        row.request_hash,
        row.org_unit,
        row.org_unit_name,
        row.period,
        row.data_set,
        row.kind,
      ].map(lit).join(", ")
    }, ${lit(row.request)}::jsonb, ${lit(row.payload)}::jsonb, ${arr(row.codes)}, ${
      arr(row.unmapped_codes)
    }) returning id, task_id, status, request_hash, payload, unmapped_codes),
    del as (insert into deliveries (submission_id, destination, kind, ordering_key, max_attempts)
      select id, 'default', ${lit(row.kind)}, ${
      lit(delivery.ordering_key)
    }, ${delivery.max_attempts}
      from sub) select * from sub;`;
    const subTps = await pgbench("gateway", insert.replace(/\s*\n\s*/g, " "));
    results.pgbench_submission_inserts_per_s = Math.round(subTps);
    console.log(`pgbench with the submission's own INSERT: ${Math.round(subTps)}/s`);
    await gw`truncate submissions cascade`;
  }

  const before = (await gw`select count(*)::int as n from submissions`)[0].n;
  const started = performance.now();
  if (wrk) {
    results.wrk = await wrkPost(wrk, `${apiUrl}/aggregate`, body, `Token ${sample.apiToken}`);
    results.load_generator = "wrk";
  } else {
    results.load_generator = "in-process fetch (install wrk for a fairer number)";
    const deadline = performance.now() + seconds * 1000;
    await Promise.all(Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) {
        const res = await fetch(`${apiUrl}/aggregate`, {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            Authorization: `Token ${sample.apiToken}`,
          },
          body,
        });
        await res.body?.cancel();
      }
    }));
  }
  const elapsed = (performance.now() - started) / 1000;
  const accepted = (await gw`select count(*)::int as n from submissions`)[0].n - before;
  const acceptedPerS = Math.round(accepted / elapsed);
  results.accepted = accepted;
  results.accepted_per_s = acceptedPerS;
  results.accepted_vs_pgbench = Number((acceptedPerS / tps).toFixed(3));
  const pct = (of: unknown) =>
    typeof of === "number" ? `${(100 * acceptedPerS / of).toFixed(1)}%` : "n/a";
  if (typeof results.pgbench_submission_inserts_per_s === "number") {
    results.accepted_vs_pgbench_submission_insert = Number(
      (acceptedPerS / results.pgbench_submission_inserts_per_s).toFixed(3),
    );
  }
  if (typeof results.bare_hono_insert_per_s === "number") {
    results.accepted_vs_bare_hono = Number(
      (acceptedPerS / results.bare_hono_insert_per_s).toFixed(3),
    );
  }
  console.log(
    `accepted submissions: ${acceptedPerS}/s (${accepted} in ${elapsed.toFixed(1)} s): ` +
      `${pct(tps)} of pgbench, ${pct(results.pgbench_submission_inserts_per_s)} of pgbench ` +
      `with the same INSERT, ${pct(results.bare_hono_insert_per_s)} of the bare handler`,
  );
  await api.stop();

  // 4. Delivered per second into the simulator.
  const sim = await startSimulator({ port: 0 });
  const worker = startServe(["serve", "--worker-only"], {
    cwd: root,
    env: {
      ...env,
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: "admin",
      DHIS2GW_DHIS2_PASSWORD: "district",
      DHIS2GW_MAX_CONCURRENT: "16",
      DHIS2GW_LOG_LEVEL: "warn",
    },
  });
  const t0 = performance.now();
  let pending = accepted;
  while (pending > 0 && performance.now() - t0 < 600_000) {
    await new Promise((r) => setTimeout(r, 250));
    pending = (await gw`select count(*)::int as n from submissions
      where status in ('queued', 'running', 'retrying')`)[0].n;
  }
  const deliverSeconds = (performance.now() - t0) / 1000;
  const byStatus = await gw`select status, count(*)::int as n from submissions group by status`;
  results.delivery_statuses = Object.fromEntries(byStatus.map((r) => [r.status, r.n]));
  results.delivered_per_s = Math.round(accepted / deliverSeconds);
  console.log(
    `delivered submissions: ${results.delivered_per_s}/s (${accepted} in ${
      deliverSeconds.toFixed(1)
    } s) ${JSON.stringify(results.delivery_statuses)}`,
  );
  await worker.stop();
  await sim.stop();

  // 5–6. Tracker events accepted and delivered per second (bench_tracker.ts).
  Object.assign(
    results,
    await benchTracker({ root, env, gw, apiToken: sample.apiToken, seconds, connections }),
  );
  await gw.end();
} finally {
  await admin.end();
  await cluster.stop();
}

await Deno.mkdir(`${root}bench/results`, { recursive: true });
const file = `${root}bench/results/submissions.json`;
await Deno.writeTextFile(file, JSON.stringify(results, null, 2) + "\n");
console.log(`wrote ${file}`);

// bench.ts's own ratios (the submission's own INSERT under pgbench, tracker) next to the others.
await recordSection(
  "submissions",
  Object.fromEntries(
    Object.entries(results).filter(([k]) => k === "date" || /_vs_/.test(k)),
  ),
);

if (!values["skip-delivery"]) {
  const delivery = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}scripts/bench_delivery.ts`],
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!delivery.success) throw new Error("the delivery benchmark failed");
  // Each scenario's share of what the cost model allows, from the file it wrote.
  const costed = JSON.parse(await Deno.readTextFile(`${root}bench/results/delivery.json`));
  await recordSection("delivery_cost_model", {
    date: costed.date,
    submissions: costed.submissions,
    // A batching scenario's median round; all its rounds in rounds_pct.
    of_ceiling_pct: Object.fromEntries(
      (costed.results as Array<{ scenario: string; ofCeiling: number }>).map((
        r,
      ) => [r.scenario, r.ofCeiling]),
    ),
    rounds_pct: Object.fromEntries(
      (costed.results as Array<{ scenario: string; rounds?: Array<{ ofCeiling: number }> }>)
        .filter((r) => r.rounds)
        .map((r) => [r.scenario, r.rounds!.map((x) => x.ofCeiling)]),
    ),
  });

  // Issue 18's delivery row: an instant DHIS2, ours against graphile-worker in the same run.
  const db = await benchDatabase("bench_instant_admin");
  try {
    const instant = await instantBench({
      serverUrl: db.url,
      submissions: 5000,
      concurrency: 8,
      rounds: 3,
      graphile: true,
      profile: false,
      log: console.log,
    });
    await recordSection("delivery_instant", instant);
    console.log(
      `delivered/s into an instant DHIS2: ${instant.delivered_per_s}/s, ` +
        `${instant.delivered_vs_graphile_default}× graphile-worker default, ` +
        `${instant.delivered_vs_graphile_batched}× batched; recorded in ${RATIOS_FILE}`,
    );
    if (instant.outcomes_exact !== true) throw new Error("instant delivery: outcomes not exact");
  } finally {
    await db.stop();
  }

  // And the "keep" row: accept→delivered of a lone submission, with the default settings.
  const idle = await idleDelivery(200, 50);
  await recordSection("delivery_idle", { date: new Date().toISOString(), ...idle });
  console.log(
    `accept→delivered at idle: p50 ${idle.p50_ms} ms, p95 ${idle.p95_ms} ms, p99 ${idle.p99_ms} ms`,
  );
  if (!idle.delivered_once) throw new Error("idle delivery: not every submission delivered once");
  // The same with batching off (the path the first figure was taken on).
  const lone = await idleDelivery(200, 50, 0);
  await recordSection("delivery_idle_unbatched", { date: new Date().toISOString(), ...lone });
  console.log(
    `accept→delivered at idle, batching off: p50 ${lone.p50_ms} ms, p95 ${lone.p95_ms} ms, ` +
      `p99 ${lone.p99_ms} ms`,
  );
  if (!lone.delivered_once) throw new Error("idle delivery: not every submission delivered once");
}
