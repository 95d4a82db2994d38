/**
 * `deno task package [TARGET…]`: the offline build. For each target (default: all four), one
 * self-extracting file `dist/dhis2gw-<target>`: scripts/package_header.sh, then a gzip'd tar of
 * the staged application (scripts/package_stage.ts). Needs the npm registry and nothing else;
 * the build host needs GNU tar (for a reproducible archive), gzip and npm.
 *
 * The unpack folder's name is `<version>-<first 12 hex of the payload's SHA-256>`: a file with
 * other contents never reuses a folder unpacked from another.
 */
import { VERSION } from "../src/version.ts";
import { checkBinary, ROOT, run, stage, TARGETS } from "./package_stage.ts";

const targets = Deno.args.length ? Deno.args : Object.keys(TARGETS);
const dist = `${ROOT}dist`;
const cache = `${dist}/.cache`;

for (const target of targets) {
  if (!TARGETS[target]) {
    console.error(`unknown target ${target}; one of ${Object.keys(TARGETS).join(", ")}`);
    Deno.exit(2);
  }
}

for (const target of targets) {
  const t0 = performance.now();
  const stageDir = `${dist}/.stage/${target}`;
  await stage(target, stageDir, cache);
  const payload = `${dist}/.stage/${target}.tar.gz`;
  // Fixed names, times and owners: the same sources give the same file, hence the same folder.
  await run("sh", [
    "-c",
    `tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf - . | gzip -6n > "$2"`,
    "sh",
    stageDir,
    payload,
  ]);
  const sha = (await run("sha256sum", [payload])).split(" ")[0];
  const id = `${VERSION}-${sha.slice(0, 12)}`;
  const template = await Deno.readTextFile(`${ROOT}scripts/package_header.sh`);
  const fill = (skip: number) =>
    template.replaceAll("@VERSION@", VERSION).replaceAll("@TARGET@", target)
      .replaceAll("@ID@", id).replaceAll("@SHA256@", sha).replaceAll("@SKIP@", String(skip));
  // `tail -c +N` counts from 1: the payload starts one byte after the header.
  let skip = 1;
  while (new TextEncoder().encode(fill(skip)).length + 1 !== skip) {
    skip = new TextEncoder().encode(fill(skip)).length + 1;
  }
  const out = `${dist}/dhis2gw-${target}`;
  const file = await Deno.open(out, { write: true, create: true, truncate: true, mode: 0o755 });
  await file.write(new TextEncoder().encode(fill(skip)));
  const body = await Deno.open(payload);
  await body.readable.pipeTo(file.writable);
  await Deno.chmod(out, 0o755);
  await Deno.remove(payload);
  const size = (await Deno.stat(out)).size;
  const arch = await checkBinary(`${stageDir}/deno`, TARGETS[target]);
  console.log(
    `${out}: ${(size / 1e6).toFixed(1)} MB, Deno ${arch}, unpacks to ${id}, built in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s`,
  );
}
