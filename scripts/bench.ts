/**
 * `deno task bench`: throughput of the submission path on this machine, next to PostgreSQL's
 * own single-row insert rate measured in the same run, written to bench/results/.
 *
 *   1. pgbench: one-row INSERTs into a jsonb table at --connections clients (the ceiling).
 *   2. accepted/s: POST /api/v2/aggregate (Token auth, mapping, validation, durable commit of
 *      the submission and its job) against `serve --no-worker`, loaded by wrk when installed
 *      (`apt-get install wrk`), else by an in-process fetch loop (which steals CPU: lower).
 *   3. delivered/s: `serve --worker-only` draining what step 2 queued into the DHIS2 simulator.
 *
 * Options: --seconds N (load duration, default 10), --connections N (default 32).
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { startSimulator } from "../src/dhis2/simulator.ts";
import { portFrom, startServe } from "../tests/support/cli.ts";
import { findPgBin, startCluster } from "./pg_cluster.ts";
import { ADMIN, SAMPLE_SUBMISSION, setUpSample } from "./sample.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "10" },
    connections: { type: "string", default: "32" },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const root = new URL("../", import.meta.url).pathname;

const bin = await findPgBin();
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

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} failed:\n${text}`);
  return text;
}

try {
  // 1. PostgreSQL's own rate for the same shape of write.
  await admin.unsafe("create database pgbench_db");
  const pb = postgres(cluster.url.replace(/\/postgres$/, "/pgbench_db"), { max: 1 });
  await pb`create table t (id bigint generated always as identity primary key, body jsonb not null,
    created_at timestamptz not null default now())`;
  await pb.end();
  const script = await Deno.makeTempFile({ suffix: ".sql" });
  await Deno.writeTextFile(script, `insert into t (body) values ('{"orgUnit":"DiszpKrYNg8"}');\n`);
  const pgbenchOut = await run(`${bin}/pgbench`, [
    "-n",
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
    "pgbench_db",
  ]);
  const tps = Number(/tps = ([\d.]+)/.exec(pgbenchOut)?.[1]);
  results.pgbench_inserts_per_s = Math.round(tps);
  console.log(`pgbench single-row inserts: ${Math.round(tps)}/s`);

  // 2. Accepted submissions per second.
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
  const apiUrl = `http://127.0.0.1:${port}/api/v2`;
  const sample = await setUpSample(apiUrl);
  const body = JSON.stringify(SAMPLE_SUBMISSION);
  const gw = postgres(dbUrl, { max: 1 });
  const before = (await gw`select count(*)::int as n from submissions`)[0].n;
  const wrk = await which("wrk");
  const started = performance.now();
  if (wrk) {
    const lua = await Deno.makeTempFile({ suffix: ".lua" });
    await Deno.writeTextFile(
      lua,
      `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\n` +
        `wrk.headers["Content-Type"] = "application/json"\n` +
        `wrk.headers["Authorization"] = "Token ${sample.apiToken}"\n`,
    );
    const out = await run(wrk, [
      "-t2",
      `-c${connections}`,
      `-d${seconds}s`,
      "-s",
      lua,
      `${apiUrl}/aggregate`,
    ]);
    results.wrk = out.trim().split("\n").filter((l) =>
      /Latency|Req\/Sec|Non-2xx|requests in/.test(l)
    );
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
  console.log(
    `accepted submissions: ${acceptedPerS}/s (${accepted} in ${elapsed.toFixed(1)} s), ${
      (100 * acceptedPerS / tps).toFixed(1)
    }% of pgbench`,
  );
  await api.stop();

  // 3. Delivered per second into the simulator.
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
  await gw.end();
} finally {
  await admin.end();
  await cluster.stop();
}

await Deno.mkdir(`${root}bench/results`, { recursive: true });
const file = `${root}bench/results/submissions.json`;
await Deno.writeTextFile(file, JSON.stringify(results, null, 2) + "\n");
console.log(`wrote ${file}`);
