/**
 * The .deb (`deno task deb`): lintian, `systemd-analyze verify` and `security`, then install,
 * upgrade and purge in a throwaway root (an overlay of this machine's own root in a private
 * mount namespace, so nothing here changes), with the service's command run for real as the
 * dhis2gw user on a read-only root. Builds take about 30 s each here; lintian about a minute.
 * Needs dpkg-deb, lintian, systemd-analyze and unshare: skipped without them, failed under CI.
 */
import assert from "node:assert/strict";
import { checkBinary, TARGETS } from "../scripts/package_stage.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const CI = Deno.env.get("CI") === "true";
const dec = new TextDecoder();
const PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

async function sh(script: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command("sh", {
    args: ["-c", script],
    env: { PATH, ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const missing: string[] = [];
for (const tool of ["dpkg-deb", "lintian", "systemd-analyze", "unshare", "setpriv", "adduser"]) {
  if ((await sh(`command -v ${tool}`)).code !== 0) missing.push(tool);
}
if ((await sh("unshare -m true")).code !== 0) missing.push("unshare permission");
const ignore = missing.length > 0 && !CI;
if (missing.length) console.warn(`deb tests ${CI ? "fail" : "skipped"}: no ${missing.join(", ")}`);

async function deb(arch: string, version?: string): Promise<string> {
  if (Deno.env.get("DHIS2GW_PACKAGE_REUSE") === "1") {
    const path = `${ROOT}dist/dhis2gw_${(version ?? "1:0.1.0").replace(/^\d+:/, "")}_${arch}.deb`;
    if (await Deno.stat(path).then(() => true, () => false)) return path;
  }
  const args = ["task", "deb", arch, ...(version ? ["--version", version] : [])];
  const out = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stdout: "piped" })
    .output();
  const text = dec.decode(out.stdout);
  console.log(text.trim());
  assert.ok(out.success);
  return /^(\S+\.deb):/m.exec(text)![1];
}

let built: Promise<{ amd64: string; arm64: string; next: string }> | undefined;
const build = () =>
  built ??= (async () => {
    const next = await deb("amd64", "1:0.1.0+next1");
    return { next, amd64: await deb("amd64"), arm64: await deb("arm64") };
  })();

Deno.test({
  name: "deb: lintian clean, systemd-analyze verify clean, exposure <= 2.0, arm64 carries arm64",
  ignore,
  fn: async () => {
    assert.deepEqual(missing, []);
    const { amd64, arm64 } = await build();
    const lint = await sh(`lintian --tag-display-limit 0 "$D" 2>&1`, { D: amd64 });
    console.log(`lintian:\n${lint.stdout || "(nothing)"}`);
    assert.deepEqual(lint.stdout.split("\n").filter((l) => /^[EW]: /.test(l)), []);
    assert.equal(lint.code, 0);

    const unit = `${ROOT}packaging/deb/dhis2gw.service`;
    const sec = await sh(`systemd-analyze security --offline=yes --no-pager "$U" 2>&1`, {
      U: unit,
    });
    const exposure = Number(
      /Overall exposure level for dhis2gw\.service: ([\d.]+)/.exec(
        sec.stdout,
      )![1],
    );
    console.log(`systemd-analyze security: exposure ${exposure}`);
    console.log(sec.stdout.split("\n").filter((l) => l.startsWith("✗")).join("\n"));
    assert.ok(exposure <= 2.0, sec.stdout);
    assert.doesNotMatch(await Deno.readTextFile(unit), /MemoryDenyWriteExecute=yes/);

    // The arm64 package: its architecture field and its Deno's ELF header.
    const dir = await Deno.makeTempDir();
    const r = await sh(
      `dpkg-deb -f "$D" Architecture && dpkg-deb --fsys-tarfile "$D" |
       tar -xOf - ./usr/lib/dhis2gw/deno | head -c 4096 > "$T/deno"`,
      { D: arm64, T: dir },
    );
    assert.equal(r.stdout, "arm64\n", r.stderr);
    assert.equal(
      await checkBinary(`${dir}/deno`, TARGETS["aarch64-unknown-linux-gnu"]),
      "elf aarch64",
    );
    await Deno.remove(dir, { recursive: true });
  },
});

/** The old Go service's package: same name, same conffile, an older-style config. */
async function oldGoPackage(dir: string): Promise<string> {
  const root = `${dir}/old`;
  await Deno.mkdir(`${root}/DEBIAN`, { recursive: true });
  await Deno.mkdir(`${root}/etc/dhis2gw`, { recursive: true });
  await Deno.mkdir(`${root}/usr/bin`, { recursive: true });
  await Deno.writeTextFile(
    `${root}/DEBIAN/control`,
    "Package: dhis2gw\nVersion: 2.3.0\nArchitecture: all\nMaintainer: x <x@example.org>\n" +
      "Description: the old Go service\n old\n",
  );
  await Deno.writeTextFile(`${root}/DEBIAN/conffiles`, "/etc/dhis2gw/dhis2gw.yml\n");
  await Deno.writeTextFile(
    `${root}/etc/dhis2gw/dhis2gw.yml`,
    [
      "server:",
      "  http_port: 19491",
      "  migrations_dir: file:///usr/share/dhis2gw/db/migrations",
      "  redis_address: 127.0.0.1:6379",
      "api:",
      "  dhis2_tree_ids: abc",
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(`${root}/usr/bin/dhis2gw`, "#!/bin/sh\necho old\n", { mode: 0o755 });
  assert.equal(
    (await sh(`dpkg-deb --root-owner-group --build "$R" "$R.deb"`, { R: root })).code,
    0,
  );
  return `${root}.deb`;
}

Deno.test({
  name:
    "deb: upgrades the Go package keeping its edited config, serves as dhis2gw on a read-only root, upgrades silently, purges",
  ignore,
  fn: async () => {
    assert.deepEqual(missing, []);
    const { amd64, next } = await build();
    const dir = await Deno.makeTempDir({ dir: "/tmp" });
    const old = await oldGoPackage(dir);
    assert.equal(old, `${dir}/old.deb`);
    for (const [name, path] of [["new.deb", amd64], ["next.deb", next]]) {
      await Deno.copyFile(path, `${dir}/${name}`);
    }
    await Deno.copyFile(`${ROOT}tests/support/deb_steps.sh`, `${dir}/steps.sh`);
    const r = await sh(`unshare -m sh "$S" "$D" 2>&1`, {
      S: `${ROOT}tests/support/deb_root.sh`,
      D: dir,
    });
    console.log(r.stdout);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ALL STEPS PASSED$/m);
    await Deno.remove(dir, { recursive: true });
  },
});
