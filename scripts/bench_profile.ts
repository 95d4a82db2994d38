/**
 * `deno task bench --profile`: V8 CPU profiles of the gateway's intake (`serve --no-worker`
 * under wrk) and delivery (`serve --worker-only` draining what intake queued into the DHIS2
 * simulator), taken through the inspector protocol (Deno has no --cpu-prof flag), written to
 * bench/results/*.cpuprofile (Chrome DevTools and speedscope open them) and summarised as
 * self time grouped by our module or dependency.
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { DB_SCHEMA } from "../src/db/schema.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { MAIN, portFrom, RUN_FLAGS } from "../tests/support/cli.ts";
import { findPgBin, startCluster } from "./pg_cluster.ts";
import { recordSection, RESULTS_DIR, wrapChild, wrkPost } from "./perf_lib.ts";
import { ADMIN, SAMPLE_SUBMISSION, setUpSample } from "./sample.ts";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

/** Which bucket a frame's self time belongs to. */
export function groupOf(f: CallFrame): string {
  const u = f.url;
  const fn = f.functionName;
  if (fn === "(garbage collector)") return "V8 garbage collector";
  if (fn === "(idle)" || fn === "(program)" || fn === "(root)") return "idle / native (" + fn + ")";
  if (/^JSON\.|^(parse|stringify)$/.test(fn) && !u) return "JSON";
  if (/inspector/.test(u) || /inspector/.test(fn)) return "inspector (profiling overhead)";
  const pkg = /registry\.npmjs\.org\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1];
  if (pkg === "postgres") return "postgres.js";
  if (pkg) return pkg.startsWith("@hono/") || pkg === "hono" ? pkg : `npm: ${pkg}`;
  if (/crypto/.test(u)) return "crypto";
  if (/\/src\/logs\//.test(u)) return "logging (src/logs)";
  const ours = /\/src\/([^/]+)\//.exec(u);
  if (ours) return `ours: src/${ours[1]}`;
  if (/main\.ts$/.test(u)) return "ours: main.ts";
  if (/^ext:deno_(http|net|fetch|web|url)|^ext:runtime/.test(u)) return "deno runtime: http/net";
  if (/^ext:|^node:/.test(u)) return "deno runtime: other";
  if (!u) return fn ? `V8 builtin (${fn})` : "V8 builtin";
  return "other";
}

/** Self time per group and per function, in ms, largest first. */
export function summarise(p: CpuProfile, top = 15) {
  const total = p.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const msPerHit = total ? (p.endTime - p.startTime) / 1000 / total : 0;
  // Idle time and the inspector's own work are not the gateway's cost.
  const counted = (g: string) => !g.startsWith("idle") && !g.startsWith("inspector");
  const groups = new Map<string, number>();
  const fns = new Map<string, number>();
  const parent = new Map<number, ProfileNode>();
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n);
  // A native frame (no URL: a V8 builtin or a Deno op) is charged to the nearest JavaScript
  // caller's group, so stdout writes show up under logging and socket writes under postgres.js.
  const runtime = (u: string) => !u || /^ext:deno_node|^node:/.test(u);
  const caller = (n: ProfileNode): ProfileNode | undefined => {
    for (let a = parent.get(n.id); a; a = parent.get(a.id)) {
      if (a.callFrame.url && !/^ext:|^node:/.test(a.callFrame.url)) return a;
    }
  };
  for (const n of p.nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits) continue;
    const own = groupOf(n.callFrame);
    const via = runtime(n.callFrame.url) && !/^\(/.test(n.callFrame.functionName) &&
        !own.startsWith("inspector")
      ? caller(byId.get(n.id)!)
      : undefined;
    const g = via ? groupOf(via.callFrame) : own;
    groups.set(g, (groups.get(g) ?? 0) + hits);
    const where = n.callFrame.url.replace(/^.*registry\.npmjs\.org\//, "npm:")
      .replace(/^file:\/\/.*\/src\//, "src/");
    const key = `${n.callFrame.functionName || "(anonymous)"} ${where}:${
      n.callFrame.lineNumber + 1
    } [${g}]`;
    if (counted(g)) fns.set(key, (fns.get(key) ?? 0) + hits);
  }
  const busy = [...groups].filter(([g]) => counted(g)).reduce((s, [, h]) => s + h, 0);
  const rows = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, hits]) => ({
      name,
      ms: Math.round(hits * msPerHit),
      pct_of_busy: counted(name.replace(/^.*\[|\]$/g, ""))
        ? Number((100 * hits / busy).toFixed(1))
        : null,
    }));
  return { busy_ms: Math.round(busy * msPerHit), groups: rows(groups), functions: rows(fns) };
}

/** A minimal Chrome DevTools Protocol session over the inspector's WebSocket. */
async function inspector(url: string) {
  const ws = new WebSocket(url);
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = fail;
  });
  let next = 0;
  const pending = new Map<number, (r: unknown) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.id !== undefined) pending.get(m.id)?.(m.result ?? m.error);
    pending.delete(m.id);
  };
  return {
    // deno-lint-ignore no-explicit-any
    call: (method: string, params: unknown = {}): Promise<any> =>
      new Promise((resolve) => {
        const id = ++next;
        pending.set(id, resolve);
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

/** `serve` with the inspector on; resolves once it listens, with a profiler attached. */
export async function profiledServe(args: string[], env: Record<string, string>) {
  const inspectPort = 20_000 + Math.floor(Math.random() * 30_000);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      RUN_FLAGS[0],
      `--inspect=127.0.0.1:${inspectPort}`,
      ...RUN_FLAGS.slice(1),
      MAIN,
      ...args,
    ],
    env: { PATH: Deno.env.get("PATH") ?? "", ...env },
    clearEnv: true,
    cwd: new URL("../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const proc = wrapChild(child);
  const ws = /(ws:\/\/\S+)/.exec(await proc.waitFor(/Debugger listening on ws:/))![1];
  const listening = args.includes("--worker-only")
    ? undefined
    : await proc.waitFor(/"msg":"listening"/);
  const cdp = await inspector(ws);
  await cdp.call("Profiler.enable");
  await cdp.call("Profiler.setSamplingInterval", { interval: 200 });
  return { proc, cdp, port: listening ? portFrom(listening) : 0 };
}

export function print(title: string, s: ReturnType<typeof summarise>) {
  console.log(`\n${title}: ${s.busy_ms} ms on CPU (excluding idle)`);
  for (const g of s.groups) {
    console.log(`  ${String(g.pct_of_busy ?? "-").padStart(5)}%  ${g.name}`);
  }
  console.log("  top self-time functions:");
  for (const f of s.functions) {
    console.log(`  ${String(f.pct_of_busy ?? "-").padStart(5)}%  ${f.name}`);
  }
}

export async function profileMain(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args: args.filter((a) => a !== "--profile"),
    options: {
      seconds: { type: "string", default: "10" },
      connections: { type: "string", default: "32" },
    },
  });
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const bin = await findPgBin(["initdb", "pg_ctl"]);
  if (!bin) throw new Error("the profile needs PostgreSQL's initdb and pg_ctl");
  const cluster = await startCluster(bin);
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  const out: Record<string, unknown> = { date: new Date().toISOString(), seconds, connections };
  try {
    await admin.unsafe("create database gateway");
    const env = {
      DHIS2GW_DB: cluster.url.replace(/\/postgres$/, "/gateway"),
      DHIS2GW_SERVER_PORT: "0",
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
      DHIS2GW_DB_POOL_MAX: String(connections),
    };
    const api = await profiledServe(["serve", "--no-worker"], env);
    const apiUrl = `http://127.0.0.1:${api.port}/api/v3`;
    const sample = await setUpSample(apiUrl);
    const body = JSON.stringify(SAMPLE_SUBMISSION);
    const auth = `Token ${sample.apiToken}`;
    await wrkPost(`${apiUrl}/aggregate`, body, { seconds: 2, connections, auth }); // warm-up
    await api.cdp.call("Profiler.start");
    const load = await wrkPost(`${apiUrl}/aggregate`, body, { seconds, connections, auth });
    const intake = (await api.cdp.call("Profiler.stop")).profile as CpuProfile;
    api.cdp.close();
    await api.proc.stop();
    await Deno.mkdir(RESULTS_DIR, { recursive: true });
    await Deno.writeTextFile(`${RESULTS_DIR}intake.cpuprofile`, JSON.stringify(intake));
    const si = summarise(intake);
    print(`intake (${load.perSecond} accepted/s)`, si);
    out.intake = { accepted_per_s: load.perSecond, ...si };

    const sim = await startSimulator({ port: 0 });
    const gw = postgres(env.DHIS2GW_DB, {
      max: 1,
      onnotice: () => {},
      connection: { search_path: DB_SCHEMA },
    });
    const worker = await profiledServe(["serve", "--worker-only"], {
      ...env,
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: "admin",
      DHIS2GW_DHIS2_PASSWORD: "district",
      DHIS2GW_MAX_CONCURRENT: "16",
      DHIS2GW_LOG_LEVEL: "warn",
    });
    await worker.cdp.call("Profiler.start");
    const t0 = performance.now();
    let pending = 1;
    while (pending > 0 && performance.now() - t0 < 300_000) {
      await new Promise((r) => setTimeout(r, 250));
      pending = (await gw`select count(*)::int as n from submissions
        where status in ('queued', 'running', 'retrying')`)[0].n;
    }
    const delivery = (await worker.cdp.call("Profiler.stop")).profile as CpuProfile;
    worker.cdp.close();
    await worker.proc.stop();
    await sim.stop();
    await gw.end();
    await Deno.writeTextFile(`${RESULTS_DIR}delivery.cpuprofile`, JSON.stringify(delivery));
    const sd = summarise(delivery);
    print(`delivery (${((performance.now() - t0) / 1000).toFixed(1)} s to drain)`, sd);
    out.delivery = sd;
  } finally {
    await admin.end();
    await cluster.stop();
  }
  await recordSection("profile", out, `${RESULTS_DIR}profile.json`);
  console.log(`\nwrote ${RESULTS_DIR}{intake,delivery}.cpuprofile and profile.json`);
}

if (import.meta.main) await profileMain(Deno.args);
