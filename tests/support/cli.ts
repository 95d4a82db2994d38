/** Runs the real CLI (`main.ts`) as a subprocess, the way an operator would. */
import { FFI_FLAG, V8_FLAGS } from "../../src/cli/runtime_flags.ts";

export const MAIN = new URL("../../main.ts", import.meta.url).pathname;
/** `deno task start`'s flags (tests/runtime_flags_test.ts keeps them equal). */
export const RUN_FLAGS = [
  "run",
  "--allow-run",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
  FFI_FLAG,
  V8_FLAGS,
];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; stdin?: string } = {},
): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, MAIN, ...args],
    // PATH as any shell has it: the embedded database runs `ps`, `id` and (as root) `useradd`.
    env: { PATH: Deno.env.get("PATH") ?? "", ...opts.env },
    clearEnv: true,
    cwd: opts.cwd,
    stdin: opts.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A long-running `serve` process whose stdout lines can be awaited. */
export interface ServeProcess {
  child: Deno.ChildProcess;
  lines: string[];
  /** Resolves with the first line matching, or rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends a signal and waits for the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /**
   * From now on the output is still read (the child never blocks on a full pipe) but dropped
   * undecoded: a gateway that logs every request would otherwise cost a bench a share of the
   * cores it measures (15 % of one at 1,583 requests/s).
   */
  mute(): void;
}

export function startServe(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): ServeProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, MAIN, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "", ...opts.env },
    clearEnv: true,
    cwd: opts.cwd,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters: Array<
    { pattern: RegExp; resolve: (l: string) => void; reject: (e: Error) => void }
  > = [];
  let muted = false;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let buf = "";
    const dec = new TextDecoder();
    for await (const bytes of stream) {
      if (muted) continue;
      buf += dec.decode(bytes, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.pattern.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited: string | undefined;
  child.status.then((s) => {
    exited = `process exited with code ${s.code}`;
    // A process that died will never print what a waiter waits for: fail it now.
    for (const w of waiters.splice(0)) {
      w.reject(new Error(`${exited}; output:\n${lines.join("\n")}`));
    }
  });
  return {
    child,
    lines,
    mute: () => {
      muted = true;
    },
    waitFor: (pattern, timeoutMs = 30_000) => {
      const hit = lines.find((l) => pattern.test(l));
      if (hit) return Promise.resolve(hit);
      if (exited) return Promise.reject(new Error(`${exited}; output:\n${lines.join("\n")}`));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`timed out waiting for ${pattern}; output:\n${lines.join("\n")}`));
        }, timeoutMs);
        waiters.push({
          pattern,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
      });
    },
    stop: async (signal = "SIGTERM") => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      const status = await child.status;
      await pumps;
      return status;
    },
  };
}

/** The port from the "listening" log line. */
export function portFrom(line: string): number {
  const m = /"url":"http:\/\/[^"]*:(\d+)"/.exec(line);
  if (!m) throw new Error(`no port in ${line}`);
  return Number(m[1]);
}
