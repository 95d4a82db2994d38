import assert from "node:assert/strict";
import { validateAggregate } from "./request.ts";

const body = (period: string) => ({ orgUnit: "DiszpKrYNg8", period, dataValues: { ANC1: "1" } });
const periodProblem = (period: string, version: string | null) => {
  const r = validateAggregate(body(period), undefined, false, version);
  return r.problems.find((p) => p.field === "period")?.message ?? null;
};

Deno.test("intake checks periods by the target DHIS2's version", () => {
  assert.equal(periodProblem("2024SatW53", "2.43.0"), null);
  assert.equal(periodProblem("2024SatW53", null), null);
  assert.equal(
    periodProblem("2024SatW53", "2.42.1"),
    '"2024SatW53" is refused by DHIS2 2.38–2.42, which count 52 weeks in 2024 for every weekly type',
  );
  assert.equal(
    periodProblem("2021W53", "2.41"),
    '"2021W53" does not exist: 2021 has only 52 such weeks, and DHIS2 2.38–2.42 would file it ' +
      "under 2022-01-03…2022-01-09, the first days of 2022, overwriting that week's data",
  );
  assert.equal(periodProblem("2024FriW5", null), null);
  assert.equal(periodProblem("2024Aug", "2.43.1"), null);
  assert.equal(
    periodProblem("2024Aug", "2.42.1"),
    '"2024Aug" is a FinancialAug period, which DHIS2 2.42.1 does not know',
  );
  assert.equal(
    periodProblem("2024NovQ1", "2.40.0"),
    '"2024NovQ1" is a QuarterlyNov period, which DHIS2 2.40.0 does not know',
  );
  assert.equal(periodProblem("2024NovQ1", "2.40.1"), null);
  assert.equal(periodProblem("2020W54", null), '"2020W54" is not a valid DHIS2 ISO period');
});
