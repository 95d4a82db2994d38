/**
 * `deno task soak` in its short size: a few seconds of mixed load against a real `serve`,
 * RSS sampled and plotted; it must exit 0 (no growth after warm-up) and have served every
 * kind of request in the mix. The 30-minute run is `deno task soak`.
 */
import assert from "node:assert/strict";
import { findPgBin } from "../scripts/pg_cluster.ts";

const PG_BIN = await findPgBin(["initdb", "pg_ctl"]);

Deno.test({
  name: PG_BIN ? "soak: short mixed load, RSS flat after warm-up" : "soak (skipped: no initdb)",
  ignore: !PG_BIN,
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../scripts/soak.ts", import.meta.url).pathname,
        "--seconds",
        "10",
        "--rate",
        "30",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const text = stdout + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    const r = JSON.parse(stdout.trim().split("\n").at(-1)!);
    assert.equal(r.grown, false);
    assert.ok(r.samples >= 10, `only ${r.samples} RSS samples`);
    // Accepted submissions and listings, failed validation, unknown tokens: every kind ran and
    // got only its own answer (the listing once asked with `limit`, which is a 422).
    const answers = Object.fromEntries(
      Object.entries(r.kinds as Record<string, Record<string, number>>).map((
        [kind, statuses],
      ) => [kind, Object.keys(statuses)]),
    );
    assert.deepEqual(answers, {
      submit: ["200"],
      list: ["200"],
      invalid: ["422"],
      "unknown token": ["401"],
    }, text);
    assert.equal(r.counts.error, undefined, text);
    const plot = await Deno.readTextFile(r.svg);
    assert.match(plot, /<polyline /);
  },
});
