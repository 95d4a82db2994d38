/**
 * `deno task chaos`: the chaos suite at full size (DHIS2GW_CHAOS_SUBMISSIONS, 10,000; within
 * DHIS2GW_CHAOS_BUDGET_S, 1,800 s) on PostgreSQL from PATH or /usr/lib/postgresql, or on the
 * embedded database with DHIS2GW_CHAOS_DB=embedded. tests/chaos_test.ts runs the same scenario
 * with 2,000 in the normal test run. Exits 1 unless accepted = delivered, 0 lost and 0 wrong
 * final values.
 */
import { runChaos } from "../tests/support/chaos_run.ts";
import { formatReport } from "../tests/support/chaos_verify.ts";
import { findPgBin } from "./pg_cluster.ts";

const env = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);
const embedded = Deno.env.get("DHIS2GW_CHAOS_DB") === "embedded";
const bin = Deno.env.get("DHIS2GW_TEST_PG_BIN") ?? await findPgBin();
if (!embedded && !bin) {
  console.error(
    "the chaos suite needs PostgreSQL's initdb and pg_ctl (apt-get install postgresql-15), " +
      "or DHIS2GW_CHAOS_DB=embedded",
  );
  Deno.exit(2);
}
const artifacts = new URL("../tests/artifacts", import.meta.url).pathname;
const report = await runChaos({
  db: embedded ? { mode: "embedded" } : { mode: "postgres", pgBin: bin! },
  submissions: env("DHIS2GW_CHAOS_SUBMISSIONS", 10_000),
  budgetS: env("DHIS2GW_CHAOS_BUDGET_S", 1800),
  seed: Deno.env.get("DHIS2GW_CHAOS_SEED") ? env("DHIS2GW_CHAOS_SEED", 0) : undefined,
  artifacts,
});
console.log(formatReport(report));
const file = `${artifacts}/chaos-report.json`;
await Deno.writeTextFile(file, JSON.stringify(report, null, 2) + "\n");
for (const d of report.lostDetail.slice(0, 10)) console.log("lost:", JSON.stringify(d));
for (const d of report.wrongDetail.slice(0, 10)) console.log("wrong:", JSON.stringify(d));
console.log(`details: ${file}`);
const ok = report.lost === 0 && report.wrongFinalValues === 0 &&
  report.accepted === report.delivered && report.accepted === report.submissions &&
  report.refused.length === 0 && report.replyMismatches.length === 0 && report.kills >= 5 &&
  report.pgRestarts === 1;
Deno.exit(ok ? 0 : 1);
