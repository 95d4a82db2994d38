/**
 * An open-loop load generator: requests leave on a fixed schedule (`rate` per second), whatever
 * the server's answers are doing, and each one's latency is counted from the moment it was
 * *scheduled*. A closed-loop client (wrk, or wrk pacing its connections with a delay) sends its
 * next request only after the last answer, so a slow answer delays the requests behind it and
 * their wait is never measured (coordinated omission), and it cannot offer a rate its
 * connections cannot carry: wrk's 8 paced connections offered "half of peak" and got 43 % of it.
 *
 * Plain HTTP/1.1 over keep-alive sockets, one request at a time per socket: a request due while
 * every socket is busy gets a new one (up to `maxConnections`), else waits in line (the wait
 * counts). It runs as its own process (`runOpenLoop` spawns it), so its event loop never shares
 * the bench's, and prints the offered and achieved rates next to the percentiles, and how late
 * the generator itself sent (if that is not small, the numbers say more about the machine).
 *
 *   deno run --allow-net scripts/open_loop.ts '<json OpenLoopOptions>'
 */

export interface OpenLoopOptions {
  url: string;
  /** Sent in turn, one per request (several bodies: several ordering keys, say). */
  body: string | string[];
  headers?: Record<string, string>;
  /** Requests per second offered. */
  rate: number;
  seconds: number;
  /**
   * Seconds offered at the same rate before the measured ones, on the same sockets, and not
   * counted: the generator is a fresh process each time, and its first second (JIT, sockets
   * opened as the load ramps) otherwise lands in the percentiles. Default 0.
   */
  warmupSeconds?: number;
  /** Sockets at most (default 256); past them a due request waits for a free one. */
  maxConnections?: number;
}

export interface OpenLoopResult {
  offered_per_s: number;
  /** 2xx answers per second over the schedule's span plus the last answer's wait. */
  achieved_per_s: number;
  sent: number;
  ok: number;
  /** Answers that were not 2xx, and requests that got no answer (socket errors). */
  non_2xx: number;
  errors: number;
  connections: number;
  /** From the scheduled send to the whole answer, in ms. */
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  /** From the actual send (what wrk would report), in ms. */
  service_p50_ms: number;
  service_p99_ms: number;
  /** How late requests left, p99, in ms: the generator's own lateness plus any wait for a socket. */
  send_lag_p99_ms: number;
  /** p99 (from the due time) of the requests due in each second of the measured span, in ms. */
  p99_by_second_ms: number[];
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] * 10) /
    10;
}

/** One keep-alive socket: `send` writes the request and resolves with the answer's status. */
class Socket {
  #buf = new Uint8Array(0);
  #chunk = new Uint8Array(16384);
  constructor(private conn: Deno.TcpConn) {}

  static async open(host: string, port: number): Promise<Socket> {
    const conn = await Deno.connect({ hostname: host, port });
    conn.setNoDelay(true);
    return new Socket(conn);
  }

  async send(request: Uint8Array): Promise<number> {
    let off = 0;
    while (off < request.length) off += await this.conn.write(request.subarray(off));
    for (;;) {
      const parsed = this.#parse();
      if (parsed) {
        this.#buf = this.#buf.subarray(parsed.length);
        return parsed.status;
      }
      // One read buffer per socket, reused: a fresh 64 KB per read was most of what the
      // generator allocated (it shares the 2 cores it measures on).
      const n = await this.conn.read(this.#chunk);
      if (n === null) throw new Error("connection closed by the server");
      if (this.#buf.length === 0) this.#buf = this.#chunk.slice(0, n);
      else {
        const next = new Uint8Array(this.#buf.length + n);
        next.set(this.#buf);
        next.set(this.#chunk.subarray(0, n), this.#buf.length);
        this.#buf = next;
      }
    }
  }

  /** A whole answer at the buffer's start: its status and length in bytes, else undefined. */
  #parse(): { status: number; length: number } | undefined {
    const b = this.#buf;
    let end = -1;
    for (let i = 3; i < b.length; i++) {
      if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) {
        end = i + 1;
        break;
      }
    }
    if (end < 0) return;
    const head = dec.decode(b.subarray(0, end));
    const status = Number(head.slice(9, 12));
    const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (cl) {
      const length = end + Number(cl[1]);
      return b.length >= length ? { status, length } : undefined;
    }
    if (!/\r\ntransfer-encoding:\s*chunked/i.test(head)) return { status, length: end };
    // Chunked: walk the chunks to the last (size 0) one and its closing CRLF.
    let pos = end;
    for (;;) {
      const lineEnd = b.indexOf(10, pos);
      if (lineEnd < 0) return;
      const size = parseInt(dec.decode(b.subarray(pos, lineEnd)), 16);
      pos = lineEnd + 1 + size + 2;
      if (pos > b.length) return;
      if (size === 0) return { status, length: pos };
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

export async function openLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  const u = new URL(o.url);
  const host = u.hostname;
  const port = Number(u.port || 80);
  const requests = [o.body].flat().map((text) => {
    const body = enc.encode(text);
    const head = enc.encode(
      `POST ${u.pathname}${u.search} HTTP/1.1\r\n` +
        Object.entries({
          "Content-Type": "application/json",
          ...o.headers,
          Host: u.host,
          "Content-Length": String(body.length),
        }).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n",
    );
    const request = new Uint8Array(head.length + body.length);
    request.set(head);
    request.set(body, head.length);
    return request;
  });

  const maxConnections = o.maxConnections ?? 256;
  const idle: Socket[] = [];
  let open = 0;
  /** Due times (and request numbers) of requests waiting for a free socket. */
  const line: Array<[number, number]> = [];
  /** Requests numbered below this one are the warm-up's: sent, answered, not counted. */
  const warm = Math.round(o.rate * (o.warmupSeconds ?? 0));
  const total = warm + Math.round(o.rate * o.seconds);
  const latencies: number[] = [];
  /** Latencies by the second of the measured span their request was due in. */
  const bySecond: number[][] = [];
  const service: number[] = [];
  const lags: number[] = [];
  let ok = 0, non2xx = 0, errors = 0, lastAnswer = 0;
  const inFlight = new Set<Promise<void>>();

  const oneOn = async (s: Socket, scheduled: number, n: number): Promise<void> => {
    const sent = performance.now();
    const counted = n >= warm;
    if (counted) lags.push(sent - scheduled);
    try {
      const status = await s.send(requests[n % requests.length]);
      const now = performance.now();
      if (counted) {
        lastAnswer = now;
        latencies.push(now - scheduled);
        const second = Math.floor((n - warm) / o.rate);
        (bySecond[second] ??= []).push(now - scheduled);
        service.push(now - sent);
        if (status >= 200 && status < 300) ok++;
        else non2xx++;
      }
    } catch {
      if (counted) errors++;
      s.close();
      open--;
      return;
    }
    // A request waiting in line goes out on this socket at once.
    const next = line.shift();
    if (next !== undefined) return oneOn(s, ...next);
    idle.push(s);
  };
  const dispatch = (scheduled: number, n: number) => {
    let p: Promise<void>;
    const s = idle.pop();
    if (s) p = oneOn(s, scheduled, n);
    else if (open < maxConnections) {
      open++;
      p = Socket.open(host, port).then((s) => oneOn(s, scheduled, n), () => {
        open--;
        errors++;
      });
    } else {
      line.push([scheduled, n]);
      return;
    }
    inFlight.add(p);
    p.finally(() => inFlight.delete(p));
  };

  // A few sockets up front: the first requests should not pay for the connections.
  for (let i = 0; i < Math.min(8, maxConnections); i++) {
    idle.push(await Socket.open(host, port));
    open++;
  }
  const start = performance.now() + 20;
  const interval = 1000 / o.rate;
  let i = 0;
  while (i < total) {
    const now = performance.now();
    while (i < total && start + i * interval <= now) dispatch(start + i * interval, i++);
    if (i < total) {
      const wait = start + i * interval - performance.now();
      await new Promise((r) => setTimeout(r, Math.max(0, wait)));
    }
  }
  while (inFlight.size > 0 || line.length > 0) await Promise.all([...inFlight]);
  for (const s of idle) s.close();

  const measured = start + warm * interval;
  const span = Math.max(lastAnswer, start + total * interval) - measured;
  latencies.sort((a, b) => a - b);
  service.sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  return {
    offered_per_s: Math.round(o.rate * 10) / 10,
    achieved_per_s: Math.round(ok / (span / 1000)),
    sent: total - warm,
    ok,
    non_2xx: non2xx,
    errors,
    connections: open,
    p50_ms: percentile(latencies, 0.5),
    p90_ms: percentile(latencies, 0.9),
    p99_ms: percentile(latencies, 0.99),
    max_ms: percentile(latencies, 1),
    service_p50_ms: percentile(service, 0.5),
    service_p99_ms: percentile(service, 0.99),
    send_lag_p99_ms: percentile(lags, 0.99),
    p99_by_second_ms: Array.from(
      { length: bySecond.length },
      (_, i) => percentile((bySecond[i] ?? []).sort((a, b) => a - b), 0.99),
    ),
  };
}

/** Runs the generator in its own Deno process (it must not share the caller's event loop). */
export async function runOpenLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", new URL(import.meta.url).pathname, JSON.stringify(o)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = dec.decode(out.stdout);
  if (!out.success) {
    throw new Error(`open-loop generator failed:\n${text}${dec.decode(out.stderr)}`);
  }
  return JSON.parse(text);
}

if (import.meta.main) {
  console.log(JSON.stringify(await openLoop(JSON.parse(Deno.args[0]))));
}
