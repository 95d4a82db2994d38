/**
 * The chaos suite at CI size (issue 10), once on PostgreSQL (its own cluster from the test
 * runner's binaries) and once on the embedded database (DHIS2GW_CHAOS_DB=postgres|embedded runs
 * one): DHIS2GW_CHAOS_SUBMISSIONS submissions (2,000) through a real gateway that is killed with
 * SIGKILL 6 times while PostgreSQL is crashed and restarted once, delivering to a simulator
 * that fails 20 % of the requests; within DHIS2GW_CHAOS_BUDGET_S (600 s: a
 * typical run takes 1.5-3 min, but each failed probe of an open DHIS2 circuit breaker doubles its
 * 30 s pause) each. `deno task chaos`
 * runs the same scenario with 10,000. Figures are printed; the details of a failure (which
 * submissions, their attempts, the order a wrong key's values were applied in) go to
 * tests/artifacts/chaos-report-<mode>.json.
 */
import assert from "node:assert/strict";
import { findPgBin } from "../scripts/pg_cluster.ts";
import { runChaos } from "./support/chaos_run.ts";
import { formatReport } from "./support/chaos_verify.ts";

const env = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);
const bin = Deno.env.get("DHIS2GW_TEST_PG_BIN") ?? await findPgBin();
const artifacts = new URL("./artifacts", import.meta.url).pathname;
const only = Deno.env.get("DHIS2GW_CHAOS_DB");

for (const mode of ["postgres", "embedded"] as const) {
  if (only && only !== mode) continue;
  const skip = mode === "postgres" && !bin;
  Deno.test({
    name: skip
      ? "chaos on PostgreSQL (skipped: no PostgreSQL binaries; run with `deno task test`)"
      : `chaos on ${mode}: kills, a database crash and a failing DHIS2 lose nothing, last value wins`,
    ignore: skip,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const report = await runChaos({
        db: mode === "postgres" ? { mode, pgBin: bin! } : { mode },
        submissions: env("DHIS2GW_CHAOS_SUBMISSIONS", 2000),
        budgetS: env("DHIS2GW_CHAOS_BUDGET_S", 600),
        seed: Deno.env.get("DHIS2GW_CHAOS_SEED") ? env("DHIS2GW_CHAOS_SEED", 0) : undefined,
        artifacts,
      });
      console.log(formatReport(report));
      await Deno.writeTextFile(
        `${artifacts}/chaos-report-${mode}.json`,
        JSON.stringify(report, null, 2) + "\n",
      );
      for (const d of report.lostDetail.slice(0, 5)) console.log("lost:", JSON.stringify(d));
      for (const d of report.wrongDetail.slice(0, 5)) console.log("wrong:", JSON.stringify(d));
      assert.ok(report.kills >= 5, `only ${report.kills} kills`);
      assert.equal(report.pgRestarts, 1);
      assert.deepEqual(report.refused, [], "valid submissions refused with a 4xx");
      assert.deepEqual(report.replyMismatches, [], "a 200 carried another request's payload");
      // Down, restarting or without its database the gateway answers 503 or nothing; a 500
      // would mean a bug (it found the embedded server's missing socket during a restart).
      const errors = Object.keys(report.clientReplies).filter((s) => /^5/.test(s) && s !== "503");
      assert.deepEqual(errors, [], "5xx replies other than 503");
      assert.equal(report.accepted, report.submissions, "every submission was acknowledged");
      assert.equal(report.pendingAtEnd, 0, "the queue drained within the budget");
      assert.equal(report.lost, 0, "acknowledged submissions lost");
      assert.equal(report.wrongFinalValues, 0, "keys not holding the last acknowledged value");
      assert.equal(report.accepted, report.delivered);
    },
  });
}
