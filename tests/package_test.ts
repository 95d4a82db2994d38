/**
 * The offline build (`deno task package`), built once for the four targets (about 2 minutes
 * here; DHIS2GW_PACKAGE_REUSE=1 keeps files already in dist/), then tried on the linux-x64
 * file: the smoke script, the unpack's guarantees, and the container's read-only root.
 * Needs `unshare` (root or user namespaces): skipped without it, failed under CI=true.
 */
import assert from "node:assert/strict";
import { checkBinary, launcher, TARGETS } from "../scripts/package_stage.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const X64 = `${ROOT}dist/dhis2gw-x86_64-unknown-linux-gnu`;
const CI = Deno.env.get("CI") === "true";
const dec = new TextDecoder();

async function sh(script: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command("sh", {
    args: ["-c", script],
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const unshareOk = (await sh("unshare -n -m true")).code === 0;
const ignore = !unshareOk && !CI;
if (!unshareOk) {
  console.warn(`unshare is not permitted here: the package tests are ${CI ? "failed" : "skipped"}`);
}

let built: Promise<void> | undefined;
/** Builds all four files once per test run. */
function build(): Promise<void> {
  return built ??= (async () => {
    if (Deno.env.get("DHIS2GW_PACKAGE_REUSE") === "1") {
      const have = await Promise.all(
        Object.keys(TARGETS).map((t) =>
          Deno.stat(`${ROOT}dist/dhis2gw-${t}`).then(() => 1, () => 0)
        ),
      );
      if (!have.includes(0)) return;
    }
    const t0 = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "package"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    console.log(dec.decode(out.stdout));
    assert.ok(out.success, dec.decode(out.stderr));
    console.log(`deno task package: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  })();
}

/** `tail -c +N` offset of the payload, from the header. */
async function skipOf(file: string): Promise<number> {
  const f = await Deno.open(file);
  const head = new Uint8Array(8192);
  const n = await f.read(head) ?? 0;
  f.close();
  return Number(/tail -c \+(\d+)/.exec(dec.decode(head.subarray(0, n)))![1]);
}

/** A port for the read-only-root test (a fixed one: its log is read at the end). */
const PORT_RO = 19391;
const tmp = () => Deno.makeTempDir({ dir: "/tmp", prefix: "dhis2gw-pkg-" });

Deno.test({
  name: "package: each file carries its target's Deno and PostgreSQL (ELF/Mach-O header checked)",
  ignore,
  fn: async () => {
    await build();
    const dir = await tmp();
    for (const [target, t] of Object.entries(TARGETS)) {
      const file = `${ROOT}dist/dhis2gw-${target}`;
      const skip = await skipOf(file);
      const pg = `./deno-dir/npm/registry.npmjs.org/${t.pg}/*/native/bin/postgres`;
      for (const inner of ["./deno", pg]) {
        // The first 4 KiB hold the header: format and CPU.
        const r = await sh(
          `tail -c +${skip} "$F" | gzip -dc | tar -xf - -O --wildcards '${inner}' | head -c 4096 > "$D/head"`,
          { F: file, D: dir },
        );
        assert.equal(r.code, 0, r.stderr);
        const got = await checkBinary(`${dir}/head`, t);
        console.log(`${target} ${inner.replace(/.*\//, "")}: ${got}`);
      }
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "package: scripts/smoke_binary.sh passes on the linux-x64 file with no network",
  ignore,
  fn: async () => {
    assert.ok(unshareOk, "CI must permit unshare");
    await build();
    const r = await new Deno.Command(`${ROOT}scripts/smoke_binary.sh`, {
      args: [X64],
      // A loaded CI machine: the first start's initdb alone has taken 18 s here.
      env: { DENO: Deno.execPath(), SMOKE_READY_SECONDS: "120" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = dec.decode(r.stdout);
    console.log(
      out.split("\n").filter((l) => l.startsWith("{") || l.startsWith("smoke")).join("\n"),
    );
    assert.equal(r.code, 0, `${out}\n${dec.decode(r.stderr)}`);
    assert.match(out, /smoke ok: [\d.]+ MB, first start [\d.]+ s, second start [\d.]+ s/);
  },
});

Deno.test({
  name:
    "package: concurrent first starts unpack once; a second start costs < 0.3 s; damaged file and full disk are one-line errors",
  ignore,
  fn: async () => {
    assert.ok(unshareOk, "CI must permit unshare");
    await build();
    const dir = await tmp();
    const env = { F: X64, U: `${dir}/u` };
    // Four first starts at the same moment.
    const four = await sh(
      `for i in 1 2 3 4; do DHIS2GW_UNPACK_DIR="$U" "$F" version > "$U.$i" 2>&1 & done; wait
       cat "$U".1 "$U".2 "$U".3 "$U".4; ls -A "$U"`,
      env,
    );
    const lines = four.stdout.trim().split("\n");
    assert.deepEqual(lines.slice(0, 4), Array(4).fill("dhis2gw 0.1.0"), four.stdout);
    assert.equal(lines.length, 5, `one folder, no leftovers: ${four.stdout}`);
    assert.match(lines[4], /^0\.1\.0-[0-9a-f]{12}$/);
    const launch = `${dir}/u/${lines[4]}/launch`;

    // Unpacked: the header's checks and one exec more than the launcher itself (best of 5).
    const best = async (cmd: string) => {
      let min = Infinity;
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        assert.equal((await sh(cmd, { ...env, L: launch })).code, 0);
        min = Math.min(min, performance.now() - t0);
      }
      return min;
    };
    const viaFile = await best(`DHIS2GW_UNPACK_DIR="$U" "$F" version`);
    const direct = await best(`"$L" version`);
    console.log(
      `second start: ${viaFile.toFixed(0)} ms via the file, ${direct.toFixed(0)} ms direct`,
    );
    assert.ok(viaFile - direct < 300, `overhead ${viaFile - direct} ms`);

    // One byte changed in the payload.
    const bad = await sh(
      `cp "$F" "$U.bad" && printf X | dd of="$U.bad" bs=1 seek=40000000 conv=notrunc 2>/dev/null
       DHIS2GW_UNPACK_DIR="$U.new" "$U.bad" version`,
      env,
    );
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /^dhis2gw: .* is damaged \(its SHA-256 does not match\); download it again\n$/,
    );
    // A disk with 20 MB free: nothing is left behind.
    const full = await sh(
      `mkdir "$U.small" && unshare -m sh -c 'mount -t tmpfs -o size=20m t "$U.small" &&
       DHIS2GW_UNPACK_DIR="$U.small/c" "$F" version; echo "rc=$?"; ls -A "$U.small/c"'`,
      env,
    );
    assert.equal(full.stdout, "rc=1\n");
    assert.match(full.stderr, /^dhis2gw: could not unpack into .* \(disk full\?\); .*\n$/);
    await sh(`chmod -R u+w "$D"; rm -rf "$D"`, { D: dir });
  },
});

Deno.test({
  name: "package: a read-only root with DHIS2GW_UNPACK_DIR and the data on a writable volume",
  ignore,
  sanitizeResources: false,
  fn: async () => {
    assert.ok(unshareOk, "CI must permit unshare");
    await build();
    const vol = await tmp();
    // The embedded database's OS user (when root) must reach the volume.
    await Deno.chmod(vol, 0o755);
    // What packaging/Containerfile sets up: no HOME, the root file system read-only, one volume.
    const child = new Deno.Command("unshare", {
      args: [
        "-m",
        "sh",
        "-c",
        `mount --make-rprivate / && mount --bind "$V" "$V" && mount -o remount,bind,ro / &&
         ! touch /tmp/.probe 2>/dev/null &&
         exec env -i PATH=/usr/bin:/bin DHIS2GW_UNPACK_DIR="$V/unpacked" DHIS2GW_DATA_DIR="$V/data" \
           DHIS2GW_HOST=127.0.0.1 DHIS2GW_SERVER_PORT=${PORT_RO} DHIS2GW_SHUTDOWN_GRACE=3 "$F" serve`,
      ],
      env: { V: vol, F: X64, PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Both streams are read all along: a full pipe would stall the gateway.
    const text = (r: ReadableStream<Uint8Array>) => new Response(r).text();
    const [out, err] = [text(child.stdout), text(child.stderr)];
    const port = PORT_RO;
    let ready = 0;
    for (let i = 0; i < 1200 && ready !== 200; i++) {
      ready = await fetch(`http://127.0.0.1:${port}/ready`).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      }, () => 0);
      if (ready !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    child.kill("SIGTERM");
    const status = await child.status;
    const [stdout, stderr] = await Promise.all([out, err]);
    assert.equal(ready, 200, `${stdout}\n${stderr}`);
    assert.equal(status.code, 0, stderr);
    assert.equal(stderr, "", "nothing on stderr (Deno's own notices included)");
    assert.match(stdout, /"msg":"stopped","graceful":true/);
    await sh(`chmod -R u+w "$D"; rm -rf "$D"`, { D: vol });
  },
});

Deno.test("package: the Containerfile's ENTRYPOINT is the launcher's command", async () => {
  const file = await Deno.readTextFile(`${ROOT}packaging/Containerfile`);
  const entry = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(file)![1]) as string[];
  const here = "/opt/dhis2gw";
  const words = (await launcher(here)).split("\n").filter((l) => !l.startsWith("#"))
    .join(" ").replace(/\\/g, " ").match(/"[^"]*"|\S+/g)!.map((w) =>
      w.replaceAll('"', "").replaceAll("$here", here)
    );
  const command = words.slice(words.indexOf("exec") + 1, words.indexOf("$@"));
  assert.deepEqual(entry, command);
  assert.match(file, /^USER 10001:10001$/m);
});
