import assert from "node:assert/strict";
import { checkPeriod } from "../dhis2/periods.ts";
import { simulatedPeriod } from "./simulator_periods.ts";

Deno.test("the simulator refuses what its version refuses (named week-53 cases)", () => {
  for (const version of ["2.38.7", "2.39.6", "2.40.9", "2.41.3", "2.42.1"]) {
    assert.equal(simulatedPeriod("2024SatW53", version), null, version);
    assert.equal(simulatedPeriod("2022WedW53", version), null, version);
    assert.equal(simulatedPeriod("2024FriW5", version), null, version);
    // Accepted, but filed under the next year's first days, as dhis2-core does.
    assert.deepEqual(simulatedPeriod("2021W53", version), {
      type: "Weekly",
      start: "2022-01-03",
      end: "2022-01-09",
    });
    assert.equal(simulatedPeriod("2026WedW53", version)?.start, "2026-12-30");
  }
  assert.equal(simulatedPeriod("2024SatW53", "2.43.1")?.start, "2024-12-28");
  assert.equal(simulatedPeriod("2021W53", "2.43.1"), null);
  assert.equal(simulatedPeriod("2026WedW53", "2.43.1"), null);
  assert.equal(simulatedPeriod("2016BiW27", "2.43.1")?.start, "2017-01-02");
  assert.equal(simulatedPeriod("2024FriW5", "2.43.1")?.start, "2024-01-26");
});

Deno.test("simulator and gateway agree wherever the gateway accepts a week (2000–2040)", () => {
  for (const version of ["2.38.7", "2.42.1", "2.43.1"]) {
    for (let year = 2000; year <= 2040; year++) {
      for (const p of ["", "Wed", "Thu", "Fri", "Sat", "Sun", "Bi"]) {
        for (const w of [1, 2, 26, 27, 52, 53, 54]) {
          const key = `${year}${p}W${w}`;
          const gw = checkPeriod(key, { version });
          const sim = simulatedPeriod(key, version);
          // The gateway accepts exactly what the version accepts and files where it says.
          if (gw.ok) assert.deepEqual(sim, gw.period, `${key} on ${version}`);
          else if (sim !== null) {
            assert.match(gw.reason, /would file/, `${key} on ${version}: ${gw.reason}`);
          }
        }
      }
    }
  }
});
