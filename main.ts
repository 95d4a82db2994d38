import { runCli } from "./src/cli/cli.ts";

// The only place that reads the process environment and signals.
const encoder = new TextEncoder();
const code = await runCli(Deno.args, {
  env: Deno.env.toObject(),
  out: (t) => Deno.stdout.writeSync(encoder.encode(t)),
  err: (t) => Deno.stderr.writeSync(encoder.encode(t)),
  stopSignal: () =>
    new Promise((resolve) => {
      for (const sig of ["SIGTERM", "SIGINT"] as const) {
        Deno.addSignalListener(sig, () => resolve(sig));
      }
    }),
  onReload: (reload) => Deno.addSignalListener("SIGHUP", reload),
});
Deno.exit(code);
