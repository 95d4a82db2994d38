/**
 * What grows under the soak's load (issue 18, a diagnostic kept for the next hunt): `serve`
 * with the inspector on runs scripts/soak_load.ts's mix; every --every seconds a line of RSS,
 * V8's heap after a full GC, external buffers and glibc's mallinfo2 (inside the process,
 * through FFI); at the end of warm-up and at the end a heap snapshot, and the difference by
 * constructor (count and self size) printed largest first. If the heap is flat and RSS is not,
 * the growth is native.
 *
 *   deno run -A scripts/soak_probe.ts --minutes 8 --rate 100 --warmup 90 --every 30
 *   --no-snapshots: RSS and heap lines only (a snapshot leaves 300 MB of freed malloc behind)
 *   --env K=V (repeatable) passes extra environment to serve (e.g. MALLOC_ARENA_MAX=2)
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { startSimulator } from "../src/simulator/simulator.ts";
import { MAIN, portFrom, RUN_FLAGS } from "../tests/support/cli.ts";
import { findPgBin, startCluster } from "./pg_cluster.ts";
import { RESULTS_DIR, rssKb, wrapChild } from "./perf_lib.ts";
import { ADMIN, setUpSample } from "./sample.ts";
import { mixedLoad } from "./soak_load.ts";

/** Chrome DevTools Protocol over the inspector's WebSocket, with events. */
async function cdp(url: string) {
  const ws = new WebSocket(url);
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = fail;
  });
  let next = 0;
  const pending = new Map<number, (r: unknown) => void>();
  const listeners = new Map<string, (p: unknown) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.id !== undefined) {
      pending.get(m.id)?.(m.result ?? m.error);
      pending.delete(m.id);
    } else listeners.get(m.method)?.(m.params);
  };
  return {
    // deno-lint-ignore no-explicit-any
    call: (method: string, params: unknown = {}): Promise<any> =>
      new Promise((resolve) => {
        const id = ++next;
        pending.set(id, resolve);
        ws.send(JSON.stringify({ id, method, params }));
      }),
    on: (event: string, f: (p: unknown) => void) => listeners.set(event, f),
    close: () => ws.close(),
  };
}
type Cdp = Awaited<ReturnType<typeof cdp>>;

// Evaluated inside serve (it runs with --allow-ffi): V8's and glibc's view of its memory.
const INSIDE = `(() => {
  const m = Deno.memoryUsage();
  const l = Deno.dlopen("libc.so.6", {
    mallinfo2: { parameters: [], result: { struct: Array(10).fill("usize") } },
  });
  const b = new BigUint64Array(l.symbols.mallinfo2().buffer);
  l.close();
  const mb = (n) => Math.round(Number(n) / 1048576 * 10) / 10;
  return JSON.stringify({ heapUsed: mb(m.heapUsed), heapTotal: mb(m.heapTotal),
    external: mb(m.external), mallocArena: mb(b[0]), mallocMmap: mb(b[4]),
    mallocInUse: mb(b[7]), mallocFree: mb(b[8]) });
})()`;

async function inside(c: Cdp) {
  await c.call("HeapProfiler.collectGarbage");
  const r = await c.call("Runtime.evaluate", { expression: INSIDE, returnByValue: true });
  return JSON.parse(r.result.value);
}

async function snapshot(c: Cdp): Promise<string> {
  let text = "";
  c.on("HeapProfiler.addHeapSnapshotChunk", (p) => text += (p as { chunk: string }).chunk);
  await c.call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  return text;
}

/** Count and self size per (node type, constructor name). */
export function byConstructor(text: string): Map<string, { n: number; size: number }> {
  const s = JSON.parse(text);
  const f: string[] = s.snapshot.meta.node_fields;
  const types: string[] = s.snapshot.meta.node_types[0];
  const [ti, ni, si] = [f.indexOf("type"), f.indexOf("name"), f.indexOf("self_size")];
  const out = new Map<string, { n: number; size: number }>();
  for (let i = 0; i < s.nodes.length; i += f.length) {
    const type = types[s.nodes[i + ti]];
    let name: string = s.strings[s.nodes[i + ni]];
    if (type === "string" || type === "concatenated string" || type === "sliced string") {
      name = `(${type}) ${name.slice(0, 60).replace(/\s+/g, " ")}`;
    } else name = `(${type}) ${name.slice(0, 80)}`;
    const e = out.get(name) ?? { n: 0, size: 0 };
    e.n++;
    e.size += s.nodes[i + si];
    out.set(name, e);
  }
  return out;
}

function diff(a: Map<string, { n: number; size: number }>, b: typeof a, top = 40) {
  const rows = [];
  for (const [k, v] of b) {
    const o = a.get(k) ?? { n: 0, size: 0 };
    if (v.n !== o.n || v.size !== o.size) rows.push({ k, dn: v.n - o.n, dsize: v.size - o.size });
  }
  for (const [k, o] of a) if (!b.has(k)) rows.push({ k, dn: -o.n, dsize: -o.size });
  return rows.sort((x, y) => Math.abs(y.dsize) - Math.abs(x.dsize)).slice(0, top);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      minutes: { type: "string", default: "8" },
      rate: { type: "string", default: "50" },
      warmup: { type: "string", default: "90" },
      every: { type: "string", default: "30" },
      env: { type: "string", multiple: true, default: [] },
      "no-snapshots": { type: "boolean", default: false },
    },
  });
  const seconds = Number(values.minutes) * 60;
  const bin = await findPgBin(["initdb", "pg_ctl"]);
  if (!bin) throw new Error("needs PostgreSQL's initdb and pg_ctl");
  const cluster = await startCluster(bin);
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  const sim = await startSimulator({ port: 0 });
  await admin.unsafe("create database gateway");
  const extra = Object.fromEntries(values.env.map((kv) => kv.split(/=(.*)/s).slice(0, 2)));
  const inspectPort = 20_000 + Math.floor(Math.random() * 30_000);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      RUN_FLAGS[0],
      `--inspect=127.0.0.1:${inspectPort}`,
      ...RUN_FLAGS.slice(1),
      MAIN,
      "serve",
    ],
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      DHIS2GW_DB: cluster.url.replace(/\/postgres$/, "/gateway"),
      DHIS2GW_SERVER_PORT: "0",
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: "admin",
      DHIS2GW_DHIS2_PASSWORD: "district",
      ...extra,
    },
    clearEnv: true,
    cwd: new URL("../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const gw = wrapChild(child);
  const counts: Record<string, number> = {};
  try {
    const ws = /(ws:\/\/\S+)/.exec(await gw.waitFor(/Debugger listening on ws:/))![1];
    const api = `http://127.0.0.1:${portFrom(await gw.waitFor(/"msg":"listening"/))}/api/v3`;
    const c = await cdp(ws);
    await c.call("HeapProfiler.enable");
    const sample = await setUpSample(api);
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    const load = mixedLoad({ api, ...sample }, { until: end, rate: Number(values.rate) }, counts);
    let first: Map<string, { n: number; size: number }> | undefined;
    const warm = t0 + Number(values.warmup) * 1000;
    for (let next = t0; performance.now() < end; next += Number(values.every) * 1000) {
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
      const t = Math.round((performance.now() - t0) / 1000);
      const line = { t, rss: Math.round(await rssKb(child.pid) / 102.4) / 10, ...await inside(c) };
      line.rssAfterGc = Math.round(await rssKb(child.pid) / 102.4) / 10;
      console.log(JSON.stringify({ ...line, done: { ...counts } }));
      // Lines the driver keeps would only grow its own memory: drop them.
      gw.lines.splice(0, gw.lines.length);
      if (!values["no-snapshots"] && !first && performance.now() >= warm) {
        first = byConstructor(await snapshot(c));
      }
    }
    await load;
    if (first) {
      const last = byConstructor(await snapshot(c));
      console.log("heap growth by constructor, warm-up end -> end (count, bytes):");
      for (const r of diff(first, last)) {
        console.log(`${String(r.dsize).padStart(10)} ${String(r.dn).padStart(8)}  ${r.k}`);
      }
    }
    c.close();
  } finally {
    await gw.stop();
    await sim.stop();
    await admin.end();
    await cluster.stop();
  }
  console.log(JSON.stringify({ counts, results: RESULTS_DIR }));
}
