/**
 * A real `main.ts serve` process for the chaos suite, supervised the way a service manager
 * would: on a fixed port (clients keep one URL across restarts), its output appended to a log
 * file (a run prints tens of thousands of lines), killed with SIGKILL on request, and started
 * again on its own when it exits without being asked to (each such exit is recorded).
 */
import { MAIN, RUN_FLAGS } from "./cli.ts";

export interface UnexpectedExit {
  code: number;
  signal: Deno.Signal | null;
  at: string;
  tail: string[];
}

const TAIL = 60;

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export class ChaosGateway {
  readonly url: string;
  readonly unexpectedExits: UnexpectedExit[] = [];
  readonly #env: Record<string, string>;
  readonly #logFile: string;
  #child?: Deno.ChildProcess;
  #exited?: Promise<void>;
  #tail: string[] = [];
  #intentional = false;
  #closed = false;
  starts = 0;

  constructor(env: Record<string, string>, logFile: string) {
    const port = freePort();
    this.url = `http://127.0.0.1:${port}`;
    this.#env = {
      ...env,
      PATH: Deno.env.get("PATH") ?? "",
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_SERVER_PORT: String(port),
    };
    this.#logFile = logFile;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  tail(): string[] {
    return [...this.#tail];
  }

  #spawn(): void {
    if (this.#child || this.#closed) return;
    this.starts++;
    this.#intentional = false;
    const child = new Deno.Command(Deno.execPath(), {
      args: [...RUN_FLAGS, MAIN, "serve"],
      env: this.#env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const file = Deno.openSync(this.#logFile, { append: true, create: true });
    file.writeSync(new TextEncoder().encode(`--- start ${this.starts} pid ${child.pid}\n`));
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      let partial = "";
      for await (const chunk of stream) {
        file.writeSync(chunk);
        const lines = (partial + new TextDecoder().decode(chunk)).split("\n");
        partial = lines.pop() ?? "";
        this.#tail.push(...lines.map((l) => l.slice(0, 600)));
        if (this.#tail.length > TAIL) this.#tail.splice(0, this.#tail.length - TAIL);
      }
    };
    const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
    this.#exited = child.status.then(async (status) => {
      await pumps.catch(() => {});
      file.close();
      this.#child = undefined;
      if (this.#intentional || this.#closed) return;
      this.unexpectedExits.push({
        code: status.code,
        signal: status.signal,
        at: new Date().toISOString(),
        tail: this.tail(),
      });
      // A service manager restarts it; so do we, after a pause (it may be the database).
      setTimeout(() => this.#spawn(), 1000);
    });
  }

  /** Starts the process if it is not running and waits until `/ready` answers 200. */
  async up(timeoutMs = 90_000): Promise<number> {
    const t0 = performance.now();
    this.#spawn();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`${this.url}/ready`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        if (res.status === 200) return (performance.now() - t0) / 1000;
      } catch { /* not listening yet */ }
      if (!this.#child) this.#spawn();
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the gateway was not ready within ${timeoutMs} ms:\n${this.tail().join("\n")}`);
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#intentional = true;
    child.kill("SIGKILL");
    await this.#exited;
  }

  /** SIGTERM (drain and exit) at the end of a run; no restart after this. */
  async close(): Promise<void> {
    this.#closed = true;
    const child = this.#child;
    if (!child) return;
    child.kill("SIGTERM");
    await this.#exited;
  }
}
