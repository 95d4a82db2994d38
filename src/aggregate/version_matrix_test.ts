/**
 * The version matrix (issue 12, part B): for every simulated DHIS2 version 2.38–2.43, the
 * client and the aggregate kind's outcome against the simulator playing that version —
 * success, warning with conflicts, error with conflicts, transient error, auth failure — and
 * the week-53 and period-type cases at intake and at DHIS2. Codes A, B, … are the request's
 * codes behind the values sent, in order.
 */
import assert from "node:assert/strict";
import { createDhis2Client, type DataValueSetPayload } from "../dhis2/client.ts";
import { checkPeriod } from "../dhis2/periods.ts";
import { type Simulator, startSimulator } from "../simulator/simulator.ts";
import { transientImportFailure } from "../simulator/simulator_faults.ts";
import { type Dhis2Version, FULL_VERSION, SIMULATED_VERSIONS } from "../simulator/simulator_web.ts";
import { aggregateOutcome } from "./outcome.ts";

const OU = "DiszpKrYNg8";
const ANC = "f7n9E0hX8qk";
const CODES = ["A", "B", "C"];
const v = (dataElement: string, value: string, period = "202401") => ({
  dataElement,
  period,
  orgUnit: OU,
  value,
});

async function run(sim: Simulator, payload: DataValueSetPayload, password = "district") {
  const client = createDhis2Client({
    baseUrl: sim.url,
    auth: { method: "basic", username: "admin", password },
    connectTimeoutMs: 2000,
    timeoutMs: 5000,
  });
  return aggregateOutcome(await client.postDataValueSets(payload), payload, CODES, false);
}

const legacy = (version: Dhis2Version) => version !== "2.43";

for (const version of SIMULATED_VERSIONS) {
  Deno.test(`version matrix ${version}: outcomes, codes and counts`, async () => {
    const sim = await startSimulator({ version, now: () => new Date("2031-06-15T10:00:00Z") });
    try {
      // success: two new values
      const ok = await run(sim, { dataValues: [v(ANC, "1"), v(ANC, "2", "202402")] });
      assert.equal(ok.kind, "delivered");
      assert.equal(ok.facts.httpStatus, 200);
      // 2.43 counts every write as updated (§12); earlier versions say imported.
      assert.deepEqual(
        ok.facts.counts,
        legacy(version)
          ? { imported: 2, updated: 0, ignored: 0, deleted: 0 }
          : { imported: 0, updated: 2, ignored: 0, deleted: 0 },
      );

      // warning with conflicts: B refused, A and C written
      const warn = await run(sim, {
        dataValues: [v(ANC, "3"), v("INVALID_1", "1"), v(ANC, "4", "202403")],
      });
      assert.equal(warn.kind, "partial");
      if (warn.kind !== "partial") return;
      assert.equal(warn.facts.httpStatus, legacy(version) ? 409 : 200);
      assert.equal(warn.facts.remoteStatus, "WARNING");
      assert.deepEqual(warn.refusedCodes, ["B"]);
      assert.equal((warn.facts.conflicts as Array<{ object: string }>)[0].object, "INVALID_1");
      assert.deepEqual(
        warn.facts.counts,
        legacy(version)
          ? { imported: 1, updated: 1, ignored: 1, deleted: 0 }
          : { imported: 0, updated: 2, ignored: 1, deleted: 0 },
      );
      assert.match(warn.error, /^DHIS2 refused 1 of 3 value\(s\) \(codes B\): E7610 /);

      // error with conflicts: every value refused (2.43: ERROR; before: WARNING, none written)
      const all = await run(sim, { dataValues: [v("INVALID_1", "1"), v("INVALID_2", "1")] });
      assert.equal(all.kind, "rejected");
      if (all.kind !== "rejected") return;
      assert.equal(all.facts.remoteStatus, legacy(version) ? "WARNING" : "ERROR");
      assert.equal(all.facts.httpStatus, 409);
      assert.deepEqual(all.refusedCodes, ["A", "B"]);

      // error with conflicts at data-set level: aborted, final
      const aborted = await run(sim, { dataSet: "aaaaaaaaaaa", dataValues: [v(ANC, "1")] });
      assert.equal(aborted.kind, "rejected");
      assert.equal(aborted.facts.remoteStatus, "ERROR");

      // transient error: DHIS2's database fails; retried, then delivered
      sim.injectFaults([transientImportFailure(version)]);
      const transient = await run(sim, { dataValues: [v(ANC, "5")] });
      assert.equal(transient.kind, "retry");
      if (transient.kind !== "retry") return;
      assert.equal(transient.credentialProblem, false);
      assert.equal((await run(sim, { dataValues: [v(ANC, "5")] })).kind, "delivered");

      // auth failure: retried as a credential problem
      const auth = await run(sim, { dataValues: [v(ANC, "6")] }, "wrong");
      assert.equal(auth.kind, "retry");
      if (auth.kind !== "retry") return;
      assert.equal(auth.credentialProblem, true);
    } finally {
      await sim.stop();
    }
  });

  Deno.test(`version matrix ${version}: periods at intake agree with DHIS2`, async () => {
    const sim = await startSimulator({ version, now: () => new Date("2031-06-15T10:00:00Z") });
    try {
      const full = FULL_VERSION[version];
      for (
        const period of [
          "2024SatW53",
          "2022WedW53",
          "2021W53",
          "2026WedW53",
          "2016BiW27",
          "2024NovQ1",
          "2024Sep",
          "2024FriW5",
          "2024Feb",
          "2024Aug",
        ]
      ) {
        const intake = checkPeriod(period, { version: full });
        const outcome = await run(sim, { dataValues: [v(ANC, "7", period)] });
        const stored = sim.dataValues().find((d) => d.period === period);
        if (intake.ok) {
          // Accepted at intake: DHIS2 takes it as the same days.
          assert.equal(outcome.kind, "delivered", `${period} on ${version}`);
          assert.ok(stored, `${period} stored on ${version}`);
        } else if (/would file/.test(intake.reason)) {
          // Refused at intake because DHIS2 would take it, but as other days.
          assert.equal(outcome.kind, "delivered", `${period} on ${version}: ${intake.reason}`);
        } else {
          // Refused at intake because DHIS2 refuses it too.
          assert.equal(outcome.kind, "rejected", `${period} on ${version}: ${intake.reason}`);
          if (outcome.kind === "rejected") assert.deepEqual(outcome.refusedCodes, ["A"]);
        }
      }
      const verdict = (p: string) => checkPeriod(p, { version: full }).ok;
      assert.equal(verdict("2024SatW53"), !legacy(version));
      assert.equal(verdict("2022WedW53"), !legacy(version));
      assert.equal(verdict("2021W53"), false);
      assert.equal(verdict("2026WedW53"), false);
      assert.equal(verdict("2024Sep"), version === "2.42" || version === "2.43");
      assert.equal(verdict("2024FriW5"), version === "2.43");
    } finally {
      await sim.stop();
    }
  });
}
