/**
 * Measuring tools shared by the intake bench, the profiler and the soak: memory of a process
 * tree from /proc, wrk and an open-loop load generator, and the one results file every bench
 * records its ratios in.
 */

import type { ServeProcess } from "../tests/support/cli.ts";

const dec = new TextDecoder();

/** pid -> parent pid for every process we can read. */
async function parents(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${e.name}/stat`);
      // The command name is in parentheses and may contain spaces: ppid follows the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      out.set(Number(e.name), ppid);
    } catch { /* exited */ }
  }
  return out;
}

async function cmdline(pid: number): Promise<string> {
  try {
    return (await Deno.readTextFile(`/proc/${pid}/cmdline`)).replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/**
 * `root` and its descendants, plus every process whose command line mentions `marker` (a
 * daemonized PostgreSQL is reparented away from the gateway) and their descendants.
 */
export async function processTree(root: number, marker?: string): Promise<number[]> {
  const pp = await parents();
  const seeds = new Set([root]);
  if (marker) {
    for (const pid of pp.keys()) if ((await cmdline(pid)).includes(marker)) seeds.add(pid);
  }
  const all = new Set(seeds);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of pp) {
      if (all.has(ppid) && !all.has(pid)) {
        all.add(pid);
        grew = true;
      }
    }
  }
  return [...all];
}

// Deno reads /proc/<pid>/ only with --allow-all: the bench and soak tasks run with -A.

/** Proportional set size in kB (shared pages divided among their users); 0 if unreadable. */
export async function pssKb(pid: number): Promise<number> {
  try {
    const text = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
    return Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export async function rssKb(pid: number): Promise<number> {
  try {
    const text = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export async function treePssMb(
  root: number,
  marker?: string,
): Promise<{ mb: number; processes: number }> {
  const pids = await processTree(root, marker);
  let kb = 0;
  for (const p of pids) kb += await pssKb(p);
  return { mb: Math.round(kb / 1024), processes: pids.length };
}

/** Samples `pid`'s RSS every `everyMs` until stopped; peak and samples in MB. */
export function sampleRss(pid: number, everyMs = 250) {
  const samples: Array<{ t: number; mb: number }> = [];
  const t0 = performance.now();
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const kb = await rssKb(pid);
      if (kb > 0) samples.push({ t: (performance.now() - t0) / 1000, mb: kb / 1024 });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    samples,
    async stop() {
      stop = true;
      await done;
      return Math.round(Math.max(0, ...samples.map((s) => s.mb)));
    },
  };
}

export async function which(cmd: string): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      await Deno.stat(`${dir}/${cmd}`);
      return `${dir}/${cmd}`;
    } catch { /* next */ }
  }
}

export async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = dec.decode(out.stdout) + dec.decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} failed:\n${text}`);
  return text;
}

export interface WrkResult {
  perSecond: number;
  lines: string[];
  /** Latency percentiles in ms (wrk --latency). */
  p50: number;
  p99: number;
}

function ms(text: string, pct: string): number {
  const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)`, "m").exec(text);
  if (!m) return NaN;
  return round1(Number(m[1]) * (m[2] === "us" ? 0.001 : m[2] === "s" ? 1000 : 1));
}

/** wrk POSTing `body` (one thread: the other core serves); requests/s over the run. */
export async function wrkPost(
  url: string,
  body: string,
  opts: { seconds: number; connections: number; auth?: string; delayMs?: number },
): Promise<WrkResult> {
  const wrk = await which("wrk");
  if (!wrk) throw new Error("this bench needs wrk (apt-get install wrk)");
  const lua = await Deno.makeTempFile({ suffix: ".lua" });
  await Deno.writeTextFile(
    lua,
    `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\n` +
      `wrk.headers["Content-Type"] = "application/json"\n` +
      (opts.auth ? `wrk.headers["Authorization"] = ${JSON.stringify(opts.auth)}\n` : "") +
      // A pause before each request paces the load below the peak (half of it, say).
      (opts.delayMs ? `function delay() return ${Math.round(opts.delayMs)} end\n` : ""),
  );
  const out = await run(wrk, [
    "-t1",
    "--latency",
    `-c${opts.connections}`,
    `-d${opts.seconds}s`,
    "-s",
    lua,
    url,
  ]);
  await Deno.remove(lua);
  const m = /(\d+) requests in ([\d.]+)(m?s)/.exec(out);
  const secs = m ? Number(m[2]) / (m[3] === "ms" ? 1000 : 1) : NaN;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    perSecond: m ? Math.round((Number(m[1]) - non2xx) / secs) : NaN,
    lines: out.trim().split("\n").filter((l) => /Latency|Req\/Sec|Non-2xx|requests in/.test(l)),
    p50: ms(out, "50"),
    p99: ms(out, "99"),
  };
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

export function ratio(a: number, b: number): number {
  return Number((a / b).toFixed(3));
}

export const RESULTS_DIR = new URL("../bench/results/", import.meta.url).pathname;
export const RATIOS_FILE = `${RESULTS_DIR}ratios.json`;

/** Merges one bench's section into bench/results/ratios.json (other benches own other keys). */
export async function recordSection(
  section: string,
  value: Record<string, unknown>,
  file = RATIOS_FILE,
): Promise<void> {
  let all: Record<string, unknown> = {};
  try {
    all = JSON.parse(await Deno.readTextFile(file));
  } catch { /* first run */ }
  all[section] = value;
  await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(file, JSON.stringify(all, null, 2) + "\n");
}

/** The same line waiting as tests/support/cli.ts, around a child we spawned ourselves. */
export function wrapChild(child: Deno.ChildProcess): ServeProcess {
  const lines: string[] = [];
  let muted = false;
  const pump = async (s: ReadableStream<Uint8Array>) => {
    let buf = "";
    const dec = new TextDecoder();
    for await (const bytes of s) {
      if (muted) continue;
      buf += dec.decode(bytes, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  return {
    child,
    lines,
    mute: () => {
      muted = true;
    },
    waitFor: async (pattern, timeoutMs = 60_000) => {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const hit = lines.find((l) => pattern.test(l));
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`timed out waiting for ${pattern}:\n${lines.join("\n")}`);
    },
    stop: async (signal = "SIGTERM") => {
      try {
        child.kill(signal);
      } catch { /* gone */ }
      const s = await child.status;
      await pumps;
      return s;
    },
  };
}

/** A process's /proc/<pid>/stat fields from the third on (after the command's parentheses). */
async function statFields(pid: string | number): Promise<string[] | undefined> {
  const s = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  return s ? s.slice(s.lastIndexOf(")") + 2).split(" ") : undefined;
}

/**
 * user + system CPU time of a process, in ms (/proc/<pid>/stat, clock ticks of 10 ms). Throws
 * when the file cannot be read (another OS, the process gone, no --allow-all).
 */
export async function cpuMs(pid: number): Promise<number> {
  const f = await statFields(pid);
  if (!f) throw new Error(`cannot read /proc/${pid}/stat`);
  return (Number(f[11]) + Number(f[12])) * 10;
}

/**
 * A PostgreSQL cluster's processes, found by the port on the postmaster's command line: the
 * postmaster first, then its children (backends, checkpointer, walwriter...). Empty if none.
 */
export async function pgPids(port: string): Promise<number[]> {
  let master: string | undefined;
  const procs: string[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    procs.push(e.name);
    if (master) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    const args = cmd.split("\0");
    const i = args.indexOf("-p");
    if (args[0].endsWith("/postgres") && i >= 0 && args[i + 1] === port) master = e.name;
  }
  if (!master) return [];
  const children: number[] = [];
  for (const pid of procs) {
    if ((await statFields(pid))?.[1] === master) children.push(Number(pid));
  }
  return [Number(master), ...children];
}

/**
 * CPU time of a PostgreSQL cluster, in ms: its postmaster (with the backends it has reaped)
 * plus the backends still running.
 */
export async function pgCpuMs(port: string): Promise<number> {
  const [master, ...children] = await pgPids(port);
  if (master === undefined) return NaN;
  const m = (await statFields(master))!;
  let ticks = Number(m[11]) + Number(m[12]) + Number(m[13]) + Number(m[14]);
  for (const pid of children) {
    const f = await statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks * 10;
}

/** Scheduler time of each thread so far, in ms, by thread id (see schedDelta). */
export type SchedThreads = Map<string, { ran: number; waited: number }>;

/**
 * Scheduler time of every thread of `pids` so far (/proc/<pid>/task/<tid>/schedstat, Linux), in
 * ms: `ran` on a core, and `waited` runnable with no core free (preempted or not yet picked). A
 * process's main thread (the one that runs JavaScript in Deno) has the process's id. Processes
 * that are gone count nothing; empty where /proc has no schedstat.
 */
export async function schedThreads(pids: number[]): Promise<SchedThreads> {
  const out: SchedThreads = new Map();
  for (const pid of pids) {
    try {
      for await (const t of Deno.readDir(`/proc/${pid}/task`)) {
        const path = `/proc/${pid}/task/${t.name}/schedstat`;
        const f = (await Deno.readTextFile(path).catch(() => "")).trim().split(" ");
        if (f.length >= 2) {
          out.set(t.name, { ran: Number(f[0]) / 1e6, waited: Number(f[1]) / 1e6 });
        }
      }
    } catch { /* gone */ }
  }
  return out;
}

/**
 * What threads did between two schedThreads() readings, over the threads in both: one that
 * started or ended in between would otherwise count its whole life, or minus it.
 */
export function schedDelta(
  before: SchedThreads,
  after: SchedThreads,
): { ran: number; waited: number } {
  const d = { ran: 0, waited: 0 };
  for (const [tid, b] of before) {
    const a = after.get(tid);
    if (!a) continue;
    d.ran += a.ran - b.ran;
    d.waited += a.waited - b.waited;
  }
  return d;
}

/**
 * The whole machine's CPU time so far, in ms (/proc/stat's first line, clock ticks of 10 ms):
 * busy (user, nice, system, irq, softirq) and stolen by the hypervisor. Linux only; zeros elsewhere.
 */
export async function machineCpuMs(): Promise<{ busy: number; steal: number }> {
  const text = await Deno.readTextFile("/proc/stat").catch(() => "");
  const f = text.split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 8) return { busy: 0, steal: 0 };
  const [user, nice, system, , , irq, softirq, steal] = f;
  return { busy: (user + nice + system + irq + softirq) * 10, steal: steal * 10 };
}
