/**
 * `deno task bench --memory`: what makes up `serve`'s RSS under the intake load (issue 18).
 * Runs the intake bench's load (POST /api/v3/aggregate, external PostgreSQL, `serve
 * --no-worker`) with DHIS2GW_DEBUG_MEMORY_MS set, and prints, at the RSS peak and after
 * draining, V8's heap (per space), external buffers and the rest (RSS outside V8's heap).
 *
 *   --seconds 20 --connections 32     the load
 *   --v8-flags=...                    passed to the serve process, to compare GC settings
 *                                     ("none" to run without the launcher's defaults)
 *   --checkout <dir>                  run that checkout's main.ts with its own start task's
 *                                     flags instead (a before/after in one run:
 *                                     `git archive main | tar -x -C <dir>`)
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { V8_FLAGS } from "../src/cli/runtime_flags.ts";
import { MAIN, portFrom, RUN_FLAGS } from "../tests/support/cli.ts";
import { findPgBin, startCluster } from "./pg_cluster.ts";
import { cpuMs, sampleRss, wrapChild, wrkPost } from "./perf_lib.ts";
import { ADMIN, SAMPLE_SUBMISSION, setUpSample } from "./sample.ts";

/** RSS split into anonymous memory and mapped files (the runtime's own code), and threads. */
async function status(pid: number): Promise<Record<string, number>> {
  const text = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = (k: string) =>
    Math.round(Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(text)?.[1]) / 1024);
  return {
    rss: kb("VmRSS"),
    anon: kb("RssAnon"),
    file: kb("RssFile"),
    threads: Number(/^Threads:\s+(\d+)/m.exec(text)?.[1]),
  };
}

interface MemLine {
  t: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  spaces: Record<string, [number, number]>;
}

export async function benchMemory(o: {
  seconds: number;
  connections: number;
  v8Flags?: string;
  env?: Record<string, string>;
  checkout?: string;
}): Promise<Record<string, unknown>> {
  const bin = await findPgBin(["initdb", "pg_ctl"]);
  if (!bin) throw new Error("needs PostgreSQL's initdb and pg_ctl");
  const cluster = await startCluster(bin);
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe("create database gateway");
    // The launchers' runtime flags unless --v8-flags says otherwise ("none": V8's defaults).
    const flags = RUN_FLAGS.filter((f) => o.v8Flags === undefined || f !== V8_FLAGS);
    if (o.v8Flags && o.v8Flags !== "none") flags.push(`--v8-flags=${o.v8Flags}`);
    const main = o.checkout ? `${o.checkout}/main.ts` : MAIN;
    if (o.checkout) {
      const tasks = JSON.parse(await Deno.readTextFile(`${o.checkout}/deno.json`)).tasks;
      flags.splice(
        0,
        flags.length,
        "run",
        ...(tasks.start as string).split(/\s+/).filter((w) =>
          w.startsWith("--allow-") || w.startsWith("--v8-flags=")
        ),
      );
    }
    const child = new Deno.Command(Deno.execPath(), {
      args: [...flags, main, "serve", "--no-worker"],
      env: {
        PATH: Deno.env.get("PATH") ?? "",
        DHIS2GW_DB: cluster.url.replace(/\/postgres$/, "/gateway"),
        DHIS2GW_SERVER_PORT: "0",
        DHIS2GW_HOST: "127.0.0.1",
        DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
        DHIS2GW_DB_POOL_MAX: String(o.connections),
        DHIS2GW_DEBUG_MEMORY_MS: "200",
        ...o.env,
      },
      clearEnv: true,
      cwd: new URL("../", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const api = wrapChild(child);
    const mem = (from: number) =>
      api.lines.slice(from).filter((l) => l.startsWith('{"memory"') && l.includes('"rss"')).map((
        l,
      ) => JSON.parse(l).memory as MemLine);
    try {
      const port = portFrom(await api.waitFor(/"msg":"listening"/));
      const url = `http://127.0.0.1:${port}/api/v3`;
      await new Promise((r) => setTimeout(r, 2000));
      const startedStatus = await status(child.pid);
      const started = mem(0).at(-1);
      const sample = await setUpSample(url);
      const auth = `Token ${sample.apiToken}`;
      const body = JSON.stringify(SAMPLE_SUBMISSION);
      const idle = mem(0).at(-1);
      const idleStatus = await status(child.pid);
      await wrkPost(`${url}/aggregate`, body, {
        ...o,
        seconds: Math.max(1, Math.round(o.seconds / 5)),
        auth,
      });
      const from = api.lines.length;
      const rss = sampleRss(child.pid, 100);
      const cpu0 = await cpuMs(child.pid) / 1000;
      const load = await wrkPost(`${url}/aggregate`, body, { ...o, auth });
      const cpu = await cpuMs(child.pid) / 1000 - cpu0;
      const peak = await rss.stop();
      const endStatus = await status(child.pid);
      const during = mem(from);
      await new Promise((r) => setTimeout(r, 3000));
      const after = mem(from).at(-1);
      const afterStatus = await status(child.pid);
      let fullGc: MemLine | undefined;
      if (o.v8Flags?.includes("--expose-gc")) {
        child.kill("SIGUSR2");
        await api.waitFor(/"afterFullGc"/);
        fullGc = mem(from).find((m) => "afterFullGc" in m);
      }
      const top = during.reduce((a, b) => (b.rss > a.rss ? b : a), during[0]);
      const maxOf = (k: "heapTotal" | "heapUsed" | "external") =>
        Math.max(...during.map((m) => m[k]));
      const r = {
        allocator: api.lines.find((l) => l.includes('"allocator"')),
        checkout: o.checkout ?? "this one",
        flags: flags.filter((f) => f.startsWith("--v8") || f === "--allow-ffi").join(" "),
        env: o.env,
        accepted_per_s: load.perSecond,
        // Per accepted request (the few refused ones cost some too): CPU time is what limits
        // accepted/s on an idle machine, and it does not move with other processes' load.
        cpu_ms_per_request: Math.round((cpu * 1000 / (load.perSecond * o.seconds)) * 100) / 100,
        p99_ms: load.p99,
        rss_peak_mb: peak,
        rss_after_mb: after?.rss,
        started_status: startedStatus,
        started,
        idle_status: idleStatus,
        end_of_load_status: endStatus,
        after_status: afterStatus,
        idle,
        at_peak: top,
        max_heap_total_mb: maxOf("heapTotal"),
        max_heap_used_mb: maxOf("heapUsed"),
        max_external_mb: maxOf("external"),
        after,
        after_full_gc: fullGc,
        // With --v8-flags=--trace-gc: the last full collections (live size after each).
        gc: api.lines.filter((l) => /Mark-Compact|Scavenge/.test(l)).slice(-6),
        gc_counts: {
          scavenge: api.lines.filter((l) => /Scavenge/.test(l)).length,
          mark_compact: api.lines.filter((l) => /Mark-Compact/.test(l)).length,
        },
      };
      return r;
    } finally {
      await api.stop();
    }
  } finally {
    await admin.end();
    await cluster.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    strict: false,
    options: {
      seconds: { type: "string", default: "20" },
      connections: { type: "string", default: "32" },
      "v8-flags": { type: "string" },
      env: { type: "string", multiple: true },
      checkout: { type: "string" },
    },
  });
  const r = await benchMemory({
    seconds: Number(values.seconds),
    connections: Number(values.connections),
    v8Flags: values["v8-flags"] as string | undefined,
    checkout: values.checkout as string | undefined,
    env: Object.fromEntries(
      ((values.env ?? []) as string[]).map((
        kv,
      ) => [kv.split("=")[0], kv.slice(kv.indexOf("=") + 1)]),
    ),
  });
  for (const [k, v] of Object.entries(r)) console.log(`${k}: ${JSON.stringify(v)}`);
}
