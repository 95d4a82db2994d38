import assert from "node:assert/strict";
import { RUN_FLAGS } from "./support/cli.ts";

Deno.test({
  name: "deno task demo: a sample submission reaches the simulator with exact values",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "dhis2gw-demo-" });
    // As root the embedded server runs as another OS user, who must walk through this folder.
    await Deno.chmod(dir, 0o755);
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          ...RUN_FLAGS,
          new URL("../scripts/demo.ts", import.meta.url).pathname,
          "--smoke",
          "--port",
          "0",
          "--data-dir",
          `${dir}/data`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `${stdout}\n${stderr}`);
      const steps = stdout.trim().split("\n").filter((l) => l.startsWith("{")).map((l) =>
        JSON.parse(l)
      );
      const accepted = steps.find((s) => s.step === "accepted");
      assert.equal(accepted.status, 200);
      assert.equal(accepted.body.status, "queued");
      const finished = steps.find((s) => s.step === "finished");
      assert.equal(finished.log.status, "delivered");
      const received = steps.find((s) => s.step === "dhis2_received").dataValues as Array<
        { dataElement: string; categoryOptionCombo: string; value: string }
      >;
      const byKey = Object.fromEntries(
        received.map((v) => [`${v.dataElement}.${v.categoryOptionCombo}`, v.value]),
      );
      assert.deepEqual(byKey, {
        "f7n9E0hX8qk.HllvX50cXC0": "12",
        "deMalCases1.cocMale0001": "3",
        "deMalCases1.cocFemale01": "1000000",
        "deWeightKg1.HllvX50cXC0": "3.25",
        "deNetsOk001.HllvX50cXC0": "true",
      });
      // The tracker sample: a coded event, a person with enrollment and two events, a bundle.
      assert.deepEqual(
        steps.filter((s) => s.step === "tracker").map((s) => [s.path, s.status]),
        [["/events", "delivered"], ["/trackedEntities", "delivered"], ["/tracker", "delivered"]],
      );
      const tracker = steps.find((s) => s.step === "dhis2_tracker");
      assert.deepEqual(tracker, {
        step: "dhis2_tracker",
        trackedEntities: 2,
        enrollments: 2,
        events: 4,
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "two demos on one port: the second refuses in one line, before writing, and the first keeps its data",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "dhis2gw-demo2-" });
    await Deno.chmod(dir, 0o755);
    const demo = (args: string[], env: Record<string, string> = {}) =>
      new Deno.Command(Deno.execPath(), {
        args: [...RUN_FLAGS, new URL("../scripts/demo.ts", import.meta.url).pathname, ...args],
        env: { PATH: Deno.env.get("PATH") ?? "", ...env },
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      });
    // The port as the env var serve reads, not --port.
    const first = demo(["--data-dir", `${dir}/one`], { DHIS2GW_SERVER_PORT: "0" }).spawn();
    try {
      const banner = await readUntil(first.stdout, /console\s+http:\/\/127\.0\.0\.1:(\d+)\/admin/);
      const port = banner[1];
      const lockBefore = await Deno.readTextFile(`${dir}/one/dhis2gw.lock`);

      // Same folder, same port: refused, and the folder is left alone.
      const same = await demo(["--data-dir", `${dir}/one`], { DHIS2GW_SERVER_PORT: port })
        .output();
      const sameErr = new TextDecoder().decode(same.stderr);
      assert.equal(same.code, 1, sameErr);
      assert.equal(
        sameErr,
        `dhis2gw demo: port ${port} on 127.0.0.1 is already in use by another program; choose another with --port or DHIS2GW_SERVER_PORT\n`,
      );
      // Another folder, same port (as a flag): refused before the folder is made.
      const other = await demo(["--port", port, "--data-dir", `${dir}/two`]).output();
      assert.equal(other.code, 1);
      assert.equal(new TextDecoder().decode(other.stderr).split("\n").length, 2, "one line");
      assert.equal(await exists(`${dir}/two`), false, "nothing written");
      // Same folder, another port: the folder is held, so it is not wiped.
      const held = await demo(["--port", "0", "--data-dir", `${dir}/one`]).output();
      const heldErr = new TextDecoder().decode(held.stderr);
      assert.equal(held.code, 1);
      assert.match(
        heldErr,
        /^dhis2gw demo: the data folder .*one is in use by another dhis2gw process \(pid \d+\)/,
      );

      // The first demo still has its data, its lock and its sample.
      assert.equal(await Deno.readTextFile(`${dir}/one/dhis2gw.lock`), lockBefore);
      assert.ok(await exists(`${dir}/one/postgres/PG_VERSION`));
      const res = await fetch(`http://127.0.0.1:${port}/api/v3/mappings?page_size=1`, {
        headers: { Authorization: `Basic ${btoa("admin:Demo-Gateway-2026")}` },
      });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).total, 6);
    } finally {
      first.kill("SIGTERM");
      await first.status;
      await first.stderr.cancel().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the demo never wipes a folder it did not make", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dhis2gw-demo3-" });
  try {
    await Deno.writeTextFile(`${dir}/precious.txt`, "keep me");
    const out = await new Deno.Command(Deno.execPath(), {
      args: [...RUN_FLAGS, new URL("../scripts/demo.ts", import.meta.url).pathname, "--port", "0"],
      env: { PATH: Deno.env.get("PATH") ?? "", DHIS2GW_DATA_DIR: dir },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 1);
    assert.match(new TextDecoder().decode(out.stderr), /not made by the demo/);
    assert.equal(await Deno.readTextFile(`${dir}/precious.txt`), "keep me");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Reads a stream until `pattern` matches what came so far; the rest is drained in the background. */
async function readUntil(stream: ReadableStream<Uint8Array>, pattern: RegExp) {
  let text = "";
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before ${pattern}:\n${text}`);
    text += value;
    const m = pattern.exec(text);
    if (m) {
      (async () => {
        while (!(await reader.read()).done) { /* drain */ }
      })();
      return m;
    }
  }
}
