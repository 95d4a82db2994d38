import { tuneAllocator } from "./src/cli/allocator.ts";
import { runCli } from "./src/cli/cli.ts";
import { startMemoryTrace } from "./src/metrics/memory_trace.ts";

// Before anything allocates much (allocator.ts says why).
const allocator = tuneAllocator();
// The only place that reads the process environment and signals.
const encoder = new TextEncoder();
const err = (t: string) => Deno.stderr.writeSync(encoder.encode(t));
// A debugging aid for memory work (issue 18): a line of Deno.memoryUsage() and V8's heap
// spaces on stderr every N ms; SIGUSR2 collects garbage first (with --v8-flags=--expose-gc).
startMemoryTrace(
  Number(Deno.env.get("DHIS2GW_DEBUG_MEMORY_MS") ?? 0),
  err,
  (run) => Deno.addSignalListener("SIGUSR2", run),
  allocator,
);
const code = await runCli(Deno.args, {
  env: Deno.env.toObject(),
  out: (t) => Deno.stdout.writeSync(encoder.encode(t)),
  err,
  stopSignal: () =>
    new Promise((resolve) => {
      for (const sig of ["SIGTERM", "SIGINT"] as const) {
        Deno.addSignalListener(sig, () => resolve(sig));
      }
    }),
  onReload: (reload) => Deno.addSignalListener("SIGHUP", reload),
});
Deno.exit(code);
