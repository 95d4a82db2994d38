import type { Logger } from "../logs/logger.ts";
import { requestIdFor } from "./router.ts";
import { AppError, envelope } from "./errors.ts";

export interface RunningServer {
  port: number;
  /**
   * Drains, then stops. New requests get 503 (`/ready` included, so a load balancer stops
   * routing here) while the ones in flight finish; once none is left, or `graceMs` is over,
   * the listener closes. `graceful` is false when the grace period ran out first.
   */
  shutdown(graceMs: number): Promise<{ graceful: boolean }>;
  finished: Promise<void>;
  /**
   * HTTPS only: serves new connections with this certificate from now on. The listener is
   * opened again on the same port (connections in flight finish on the old one); false, and
   * the current certificate kept, when the new pair does not load.
   */
  reloadTls(tls: TlsPem): Promise<boolean>;
}

/** A PEM certificate chain and its private key (the files' contents). */
export interface TlsPem {
  cert: string;
  key: string;
}

/** What a request that arrives while the server drains gets: retry, on another connection. */
function drainingResponse(req: Request): Response {
  const requestId = requestIdFor(req.headers.get("x-request-id"));
  const err = new AppError("not_ready", "the server is shutting down; retry the request", {
    headers: { "Retry-After": "1", "Connection": "close", "X-Request-Id": requestId },
  });
  return Response.json(envelope(err, requestId), { status: err.status, headers: err.headers });
}

/** Whether `promise` settles within `ms` (a negative `ms` still gives it one timer tick). */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((r) => timer = setTimeout(() => r(false), Math.max(0, ms)));
  try {
    return await Promise.race([promise.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export function startServer(
  handler: Deno.ServeHandler,
  opts: { hostname: string; port: number; log: Logger; tls?: TlsPem },
): Promise<RunningServer> {
  // In flight: from the handler's call until its response (headers) is ready. Reading the
  // request body happens inside that span; streaming a response body after it is left to
  // Deno's shutdown(), which lets such a stream finish.
  let inFlight = 0;
  let draining = false;
  let refused = 0;
  let idle: PromiseWithResolvers<void> | undefined;
  const served: Deno.ServeHandler = async (req, info) => {
    if (draining) {
      refused++;
      return drainingResponse(req);
    }
    inFlight++;
    try {
      return await handler(req, info);
    } finally {
      if (--inFlight === 0) idle?.resolve();
    }
  };

  const listen = (port: number, tls: TlsPem | undefined) => {
    const listening = Promise.withResolvers<{ hostname: string; port: number }>();
    const server = Deno.serve({
      hostname: opts.hostname,
      port,
      ...(tls ? { cert: tls.cert, key: tls.key } : {}),
      onListen: (addr) => listening.resolve(addr),
    }, served);
    return { server, listening: listening.promise };
  };

  return new Promise((resolve) => {
    const first = listen(opts.port, opts.tls);
    let server = first.server;
    /** Listeners replaced by a reload, still finishing their connections. */
    const retired: Promise<void>[] = [];
    let stopping: Promise<{ graceful: boolean }> | undefined;
    const shutdown = async (graceMs: number) => {
      const deadline = performance.now() + graceMs;
      draining = true;
      opts.log.info("draining", { inFlight, graceMs });
      idle = Promise.withResolvers<void>();
      if (inFlight === 0) idle.resolve();
      const drained = await within(idle.promise, graceMs);
      // Deno's shutdown() aborts the read of a request body that is still arriving (the
      // handler's req.json() fails with BadResource, which the routes answer with 400
      // "Malformed JSON"): it is called only once nothing is in flight, or the grace is over.
      const closed = await within(
        Promise.all([server.shutdown(), ...retired]),
        deadline - performance.now(),
      );
      if (!drained || !closed) {
        opts.log.warn("grace period over; closing with requests still in flight", {
          graceMs,
          inFlight,
        });
        return { graceful: false };
      }
      opts.log.info("drained", { refusedWhileDraining: refused });
      return { graceful: true };
    };
    // Deno.serve takes its certificate once; a second listener on the port would need
    // SO_REUSEPORT, which Deno 2.9 allows for TLS only behind --unstable-net. So the pair is
    // tried on a throwaway listener first, then the listener is swapped: for the moment in
    // between (about a millisecond) a new connection is refused, and clients retry.
    const reloadTls = async (port: number, tls: TlsPem) => {
      if (!opts.tls || stopping) return false;
      try {
        Deno.listenTls({ hostname: opts.hostname, port: 0, cert: tls.cert, key: tls.key }).close();
      } catch (err) {
        opts.log.error("could not load the new TLS certificate; keeping the current one", {
          error: String((err as Error).message),
        });
        return false;
      }
      retired.push(server.shutdown());
      for (let attempt = 0;; attempt++) {
        try {
          const next = listen(port, tls);
          server = next.server;
          await next.listening;
          break;
        } catch (err) {
          // The old listener's socket closes as its shutdown begins; a moment more at most.
          if (attempt >= 100) throw err;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      opts.log.info("reloaded the TLS certificate");
      return true;
    };
    // onListen runs inside Deno.serve, before `server` is assigned: finish the setup after it.
    first.listening.then(({ hostname, port }) => {
      opts.log.info("listening", { url: `${opts.tls ? "https" : "http"}://${hostname}:${port}` });
      resolve({
        port,
        finished: first.server.finished,
        shutdown: (graceMs) => stopping ??= shutdown(graceMs),
        reloadTls: (tls) => reloadTls(port, tls),
      });
    });
  });
}
