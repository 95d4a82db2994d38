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
