/**
 * The delivery benchmark's comparison (c): the same jobs forwarded one HTTP request per job by
 * graphile-worker 0.18.0, installed from npm into a scratch folder (never a dependency of the
 * gateway) and run by Node against the same simulator and PostgreSQL, the way a generic job
 * queue would deliver them.
 */

const VERSION = "0.18.0";

// Node, plain ESM: adds the jobs, then times run() until every job succeeded.
const RUNNER = `
import { makeWorkerUtils, run } from "graphile-worker";
import { Logger } from "@graphile/logger";
import { readFileSync } from "node:fs";
const [connectionString, url, auth, concurrency, mode, jobsFile] = process.argv.slice(2);
const payloads = JSON.parse(readFileSync(jobsFile, "utf8"));
// Quiet, as the gateway's worker is in the benchmark: a log line per job costs time.
const logger = new Logger(() => () => {});
const utils = await makeWorkerUtils({ connectionString, logger });
await utils.migrate();
await utils.addJobs(payloads.map((payload) => ({ identifier: "forward", payload })));
await utils.release();
const worker = mode === "batched"
  ? { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }
  : {};
let ok = 0, failed = 0;
// When the first job started: the gateway's figure is timed the same way (from its first attempt).
let first, firstCpu;
let done;
const finished = new Promise((r) => (done = r));
const started = performance.now();
const runner = await run({
  connectionString,
  concurrency: Number(concurrency),
  noHandleSignals: true,
  pollInterval: 1000,
  logger,
  preset: { worker },
  taskList: {
    forward: async (payload) => {
      if (first === undefined) {
        first = performance.now();
        firstCpu = process.cpuUsage();
      }
      const res = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: auth },
        body: JSON.stringify(payload),
      });
      const body = await res.json().catch(() => null);
      if (res.status !== 200 || body?.response?.status !== "SUCCESS") {
        throw new Error("DHIS2 answered " + res.status);
      }
    },
  },
});
runner.events.on("job:success", () => { if (++ok === payloads.length) done(); });
runner.events.on("job:error", () => { failed++; });
await finished;
const ended = performance.now();
const cpu = process.cpuUsage(firstCpu);
await runner.stop();
console.log(JSON.stringify({
  wallMs: ended - started,
  fromFirstJobMs: ended - first,
  cpuFromFirstJobMs: (cpu.user + cpu.system) / 1000,
  ok,
  failed,
}));
`;

export interface GraphileRun {
  wallMs: number;
  /** From the first job's start to the last one's success (no start-up). */
  fromFirstJobMs: number;
  /** CPU time (user + system) of the Node process over the same span. */
  cpuFromFirstJobMs: number;
  ok: number;
  failed: number;
}

/** Installs graphile-worker once per folder; returns the folder to run in. */
export async function installGraphile(dir: string): Promise<string> {
  await Deno.writeTextFile(
    `${dir}/package.json`,
    JSON.stringify({ name: "bench-graphile", private: true, type: "module" }),
  );
  await Deno.writeTextFile(`${dir}/runner.mjs`, RUNNER);
  const out = await new Deno.Command("npm", {
    args: ["install", "--no-audit", "--no-fund", "--silent", `graphile-worker@${VERSION}`],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`npm install graphile-worker failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return dir;
}

export async function runGraphile(
  dir: string,
  o: {
    databaseUrl: string;
    importUrl: string;
    authorization: string;
    concurrency: number;
    mode: "default" | "batched";
    payloads: unknown[];
  },
): Promise<GraphileRun> {
  const jobsFile = `${dir}/jobs.json`;
  await Deno.writeTextFile(jobsFile, JSON.stringify(o.payloads));
  const out = await new Deno.Command("node", {
    args: [
      "runner.mjs",
      o.databaseUrl,
      o.importUrl,
      o.authorization,
      String(o.concurrency),
      o.mode,
      jobsFile,
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  if (!out.success) {
    throw new Error(`graphile-worker run failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(text) as GraphileRun;
}
