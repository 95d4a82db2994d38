import type { Logger } from "../logs/logger.ts";

export interface RunningServer {
  port: number;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then returns. */
  shutdown(graceMs: number): Promise<{ graceful: boolean }>;
  finished: Promise<void>;
}

export function startServer(
  handler: (req: Request) => Response | Promise<Response>,
  opts: { hostname: string; port: number; log: Logger },
): Promise<RunningServer> {
  return new Promise((resolve) => {
    const listening = Promise.withResolvers<{ hostname: string; port: number }>();
    const server = Deno.serve({
      hostname: opts.hostname,
      port: opts.port,
      onListen: (addr) => listening.resolve(addr),
    }, handler);
    // onListen runs inside Deno.serve, before `server` is assigned: finish the setup after it.
    listening.promise.then(({ hostname, port }) => {
      opts.log.info("listening", { url: `http://${hostname}:${port}` });
      resolve({
        port,
        finished: server.finished,
        shutdown: async (graceMs) => {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const timedOut = new Promise<"timeout">((r) => {
            timer = setTimeout(() => r("timeout"), graceMs);
          });
          const result = await Promise.race([
            server.shutdown().then(() => "done" as const),
            timedOut,
          ]);
          clearTimeout(timer);
          if (result === "timeout") {
            opts.log.warn("grace period over; closing with requests still in flight", { graceMs });
            return { graceful: false };
          }
          return { graceful: true };
        },
      });
    });
  });
}
