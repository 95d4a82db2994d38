/**
 * A raw TCP HTTP/1.1 proxy in front of the DHIS2 simulator that misbehaves on purpose, for the
 * chaos suite. Raw TCP because the faults that matter most cannot be produced by an HTTP
 * server: a socket closed in the middle of a request, with nothing or half a reply written.
 *
 * For each request `decide` returns a plan. The proxy may first hand the request (or only the
 * first part of its data values) to the simulator — DHIS2 applied the import — and then fail
 * anyway, as a real DHIS2 behind nginx does when the reply is lost after the import ran.
 * Every exchange is recorded with what reached the simulator, so a test can count repeated
 * imports and tell "never delivered" from "delivered, reply lost".
 */
import { transientImportFailure } from "../../src/simulator/simulator_faults.ts";

export type FaultKind = "unavailable_503" | "error_500" | "hang" | "reset" | "import_failed";

/** How much of the request DHIS2 applied before the fault: nothing, some values, all of it. */
export type Applied = "none" | "some" | "all";

/** `halfReply` (resets only): part of a reply is written before the close. */
export type Plan = { fault: null } | { fault: FaultKind; applied: Applied; halfReply?: boolean };

export interface ExchangeRecord {
  method: string;
  path: string;
  fault: FaultKind | null;
  /** The body the simulator received (all or part of the request's), or null if none. */
  forwarded: unknown;
  /** The simulator's HTTP status for `forwarded` (200: every forwarded value was stored). */
  simulatorStatus: number | null;
  /** What the gateway was told: an HTTP status, or `hang` / `reset`. */
  answered: number | "hang" | "reset";
  /** When the request arrived, ms since the proxy started. */
  at: number;
}

export interface ChaosProxy {
  readonly url: string;
  readonly exchanges: ExchangeRecord[];
  /** Requests being handled now (hangs included). */
  inFlight(): number;
  stop(): Promise<void>;
}

const enc = new TextEncoder();
/** DHIS2 2.38–2.42's reply to an exception during an import (a deadlock while writing). */
const IMPORT_FAILED = JSON.stringify(transientImportFailure("2.41").body);
const dec = new TextDecoder();

const INTERNAL_ERROR = {
  httpStatus: "Internal Server Error",
  httpStatusCode: 500,
  status: "ERROR",
  message: "Could not get JDBC Connection; nested exception is java.sql.SQLTransientException",
};

const NGINX_503 = "<html><head><title>503 Service Temporarily Unavailable</title></head>" +
  "<body><center><h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx" +
  "</center></body></html>";

interface ParsedRequest {
  method: string;
  path: string;
  headers: Headers;
  body: Uint8Array;
}

/** Reads HTTP/1.1 requests off one connection (Content-Length or chunked bodies). */
class RequestReader {
  #buf = new Uint8Array(0);
  constructor(private conn: Deno.Conn) {}

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }

  #indexOf(seq: string, from = 0): number {
    const s = enc.encode(seq);
    outer: for (let i = from; i <= this.#buf.length - s.length; i++) {
      for (let j = 0; j < s.length; j++) if (this.#buf[i + j] !== s[j]) continue outer;
      return i;
    }
    return -1;
  }

  #take(n: number): Uint8Array {
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  async #line(): Promise<string | null> {
    let i;
    while ((i = this.#indexOf("\r\n")) < 0) if (!await this.#fill()) return null;
    return dec.decode(this.#take(i + 2)).slice(0, -2);
  }

  async #bytes(n: number): Promise<Uint8Array | null> {
    while (this.#buf.length < n) if (!await this.#fill()) return null;
    return this.#take(n);
  }

  /** The next request, or null when the peer closed the connection. */
  async next(): Promise<ParsedRequest | null> {
    const start = await this.#line();
    if (start === null) return null;
    const [method, path] = start.split(" ");
    const headers = new Headers();
    for (;;) {
      const line = await this.#line();
      if (line === null) return null;
      if (line === "") break;
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    let body: Uint8Array = new Uint8Array(0);
    if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
      const parts: Uint8Array[] = [];
      for (;;) {
        const size = parseInt((await this.#line()) ?? "", 16);
        if (Number.isNaN(size)) return null;
        const part = await this.#bytes(size + 2);
        if (part === null) return null;
        if (size === 0) break;
        parts.push(part.subarray(0, size));
      }
      body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) (body.set(p, at), at += p.length);
    } else {
      const length = Number(headers.get("content-length") ?? 0);
      const read = await this.#bytes(length);
      if (read === null) return null;
      body = read;
    }
    return { method, path, headers, body };
  }
}

function responseBytes(status: number, type: string, body: string, close = false): Uint8Array {
  const bytes = enc.encode(body);
  const reason = { 200: "OK", 409: "Conflict", 500: "Internal Server Error" }[status as 200] ??
    (status === 503 ? "Service Temporarily Unavailable" : "Status");
  const head = `HTTP/1.1 ${status} ${reason}\r\ncontent-type: ${type}\r\n` +
    `content-length: ${bytes.length}\r\n${close ? "connection: close\r\n" : ""}\r\n`;
  const out = new Uint8Array(head.length + bytes.length);
  out.set(enc.encode(head));
  out.set(bytes, head.length);
  return out;
}

/** The request body with only the first half of its data values (a partly flushed batch). */
function someValues(body: unknown): unknown {
  if (typeof body !== "object" || body === null || !("dataValues" in body)) return body;
  const values = (body as { dataValues: unknown[] }).dataValues;
  return { ...body, dataValues: values.slice(0, Math.max(1, Math.floor(values.length / 2))) };
}

export function startChaosProxy(
  opts: { target: string; decide: (method: string, path: string) => Plan },
): ChaosProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const started = performance.now();
  const conns = new Set<Deno.Conn>();
  const exchanges: ExchangeRecord[] = [];
  let inFlight = 0;
  let stopped = false;

  async function forward(req: ParsedRequest, body: unknown) {
    const headers = new Headers(req.headers);
    for (const h of ["host", "connection", "content-length", "transfer-encoding", "keep-alive"]) {
      headers.delete(h);
    }
    const res = await fetch(`${opts.target}${req.path}`, {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD"
        ? undefined
        : typeof body === "string"
        ? body
        : JSON.stringify(body),
    });
    return {
      status: res.status,
      type: res.headers.get("content-type") ?? "",
      text: await res.text(),
    };
  }

  /** Handles one request; false when the connection must end (reset, hang, peer gone). */
  async function handle(conn: Deno.Conn, req: ParsedRequest): Promise<boolean> {
    const plan = opts.decide(req.method, req.path);
    const text = dec.decode(req.body);
    let parsed: unknown = text;
    try {
      if (text) parsed = JSON.parse(text);
    } catch { /* not JSON: forwarded as is */ }
    const record: ExchangeRecord = {
      method: req.method,
      path: req.path,
      fault: plan.fault,
      forwarded: null,
      simulatorStatus: null,
      answered: 0,
      at: Math.round(performance.now() - started),
    };
    exchanges.push(record);
    const applied = plan.fault === null ? "all" : plan.applied;
    let real: Awaited<ReturnType<typeof forward>> | undefined;
    if (applied !== "none") {
      record.forwarded = applied === "some" ? someValues(parsed) : parsed;
      real = await forward(req, record.forwarded);
      record.simulatorStatus = real.status;
    }
    const write = async (bytes: Uint8Array) => {
      for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    };
    switch (plan.fault) {
      case null:
        record.answered = real!.status;
        await write(responseBytes(real!.status, real!.type, real!.text));
        return true;
      case "unavailable_503":
        record.answered = 503;
        await write(responseBytes(503, "text/html", NGINX_503));
        return true;
      case "error_500":
        record.answered = 500;
        await write(responseBytes(500, "application/json", JSON.stringify(INTERNAL_ERROR)));
        return true;
      case "import_failed":
        record.answered = 409;
        await write(responseBytes(409, "application/json;charset=UTF-8", IMPORT_FAILED));
        return true;
      case "reset":
        record.answered = "reset";
        if (plan.halfReply) {
          await write(enc.encode(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" +
              'content-length: 4096\r\n\r\n{"httpStatus":"OK"',
          ));
        }
        return false;
      case "hang":
        record.answered = "hang";
        // Say nothing until the peer gives up (its timeout) or the proxy stops.
        while (!stopped && await conn.read(new Uint8Array(1024)) !== null) { /* drain */ }
        return false;
    }
  }

  async function serve(conn: Deno.Conn): Promise<void> {
    conns.add(conn);
    const reader = new RequestReader(conn);
    try {
      for (;;) {
        const req = await reader.next();
        if (req === null) break;
        inFlight++;
        try {
          if (!await handle(conn, req)) break;
        } finally {
          inFlight--;
        }
      }
    } catch { /* the peer went away (a killed gateway): nothing to answer */ }
    conns.delete(conn);
    try {
      conn.close();
    } catch { /* already closed */ }
  }

  const accepting = (async () => {
    try {
      for await (const conn of listener) serve(conn);
    } catch { /* listener closed */ }
  })();

  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    exchanges,
    inFlight: () => inFlight,
    async stop() {
      stopped = true;
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* gone */ }
      }
      await accepting;
    },
  };
}
