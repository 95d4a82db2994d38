import assert from "node:assert/strict";
import { checkPeriod, isValidPeriod, legacyWeeksInYear, parseDhis2Version } from "./periods.ts";

const LEGACY = ["2.38", "2.38.7", "2.39.1", "2.40.0", "2.41.3", "2.42", "2.42.1"];
const CURRENT = ["2.43", "2.43.1"];

// The 38 of 2014–2030's W52/W53/BiW26/BiW27 cases where 2.38–2.42 and 2.43 disagree
// (reference §12), written out by hand from dhis2-core's two rules.
// Accepted by 2.43 (counted per start day), refused by 2.38–2.42 (ISO count from 1 January).
const ONLY_2_43 = [
  "2014SunW53",
  "2017ThuW53",
  "2019SatW53",
  "2022WedW53",
  "2023ThuW53",
  "2024SatW53",
  "2025SunW53",
  "2028WedW53",
  "2028ThuW53",
  "2030SatW53",
];
// Accepted by 2.38–2.42 but filed under the next year's first days: refused with why.
const MISFILED_BEFORE_2_43 = [
  "2015WedW53",
  "2015ThuW53",
  "2015SatW53",
  "2015SunW53",
  "2016W53",
  "2016ThuW53",
  "2016SatW53",
  "2016SunW53",
  "2020WedW53",
  "2020ThuW53",
  "2020SatW53",
  "2021W53",
  "2021WedW53",
  "2021ThuW53",
  "2021SatW53",
  "2021SunW53",
  "2026WedW53",
  "2026ThuW53",
  "2026SatW53",
  "2026SunW53",
  "2027W53",
  "2027WedW53",
  "2027ThuW53",
  "2027SatW53",
  "2027SunW53",
];
// BiWeekly counts weeks from 1 January in every version, 2.43 included.
const MISFILED_ALWAYS = ["2016BiW27", "2021BiW27", "2027BiW27"];

Deno.test("the table holds 38 cases and the named ones", () => {
  const all = [...ONLY_2_43, ...MISFILED_BEFORE_2_43, ...MISFILED_ALWAYS];
  assert.equal(all.length, 38);
  for (const named of ["2024SatW53", "2022WedW53", "2021W53", "2026WedW53"]) {
    assert.ok(all.includes(named), named);
  }
});

Deno.test("2.38–2.42 refuse week 53 beyond the ISO count from 1 January", () => {
  for (const version of LEGACY) {
    for (const iso of ONLY_2_43) {
      const check = checkPeriod(iso, { version });
      assert.equal(check.ok, false, `${iso} on ${version}`);
      assert.match(!check.ok ? check.reason : "", /refused by DHIS2 2\.38–2\.42/, iso);
    }
  }
});

Deno.test("2.43 and an unknown version accept week 53 counted per start day", () => {
  for (const version of [...CURRENT, null, undefined]) {
    for (const iso of ONLY_2_43) assert.equal(isValidPeriod(iso, { version }), true, iso);
  }
  assert.deepEqual(checkPeriod("2024SatW53", { version: "2.43" }), {
    ok: true,
    period: { type: "WeeklySaturday", start: "2024-12-28", end: "2025-01-03" },
  });
});

Deno.test("weeks a version would file under next year's days are refused, saying why", () => {
  for (const version of [...LEGACY, ...CURRENT, null]) {
    for (const iso of [...MISFILED_BEFORE_2_43, ...MISFILED_ALWAYS]) {
      assert.equal(isValidPeriod(iso, { version }), false, `${iso} on ${version}`);
    }
  }
  const legacy = checkPeriod("2021W53", { version: "2.40" });
  assert.equal(legacy.ok, false);
  assert.equal(
    !legacy.ok && legacy.reason,
    "does not exist: 2021 has only 52 such weeks, and DHIS2 2.38–2.42 would file it under " +
      "2022-01-03…2022-01-09, the first days of 2022, overwriting that week's data",
  );
  const current = checkPeriod("2021W53", { version: "2.43" });
  assert.equal(!current.ok && current.reason, "does not exist: 2021 has only 52 such weeks");
  const bi = checkPeriod("2016BiW27", { version: "2.43" });
  assert.match(!bi.ok ? bi.reason : "", /would file it under 2017-01-02…2017-01-15/);
});

Deno.test("cases the two rules agree on are unchanged in every version", () => {
  for (const version of [...LEGACY, ...CURRENT, null]) {
    for (const iso of ["2020W53", "2015W53", "2026W53", "2020BiW27", "2021W52", "2024SatW52"]) {
      assert.equal(isValidPeriod(iso, { version }), true, `${iso} on ${version}`);
    }
    for (const iso of ["2024W53", "2022W53", "2023SunW53", "2021BiW28", "2024W54"]) {
      assert.equal(isValidPeriod(iso, { version }), false, `${iso} on ${version}`);
    }
  }
});

Deno.test("legacyWeeksInYear is the ISO count of the week-year holding 1 January", () => {
  // 2021-01-01 is a Friday (in 2020W53); 2024-01-01 a Monday; 2016-01-01 a Friday.
  assert.equal(legacyWeeksInYear(2021), 53);
  assert.equal(legacyWeeksInYear(2024), 52);
  assert.equal(legacyWeeksInYear(2016), 53);
  assert.equal(legacyWeeksInYear(2020), 53);
  assert.equal(legacyWeeksInYear(2022), 52);
});

Deno.test("parseDhis2Version reads system/info versions", () => {
  assert.deepEqual(parseDhis2Version("2.41.3"), { minor: 41, patch: 3 });
  assert.deepEqual(parseDhis2Version("2.43"), { minor: 43, patch: null });
  assert.deepEqual(parseDhis2Version("2.40.4.1"), { minor: 40, patch: 4 });
  assert.deepEqual(parseDhis2Version("2.42-SNAPSHOT"), { minor: 42, patch: null });
  assert.equal(parseDhis2Version("3"), null);
  assert.equal(parseDhis2Version(""), null);
  assert.equal(parseDhis2Version(null), null);
});

Deno.test("period types follow the version that introduced them", () => {
  const table: Array<[string, string[], string[]]> = [
    // QuarterlyNov arrived in 2.38.4, 2.39.3 and 2.40.1.
    [
      "2024NovQ1",
      ["2.38.4", "2.38", "2.39.3", "2.40.1", "2.40", "2.41.0", "2.42.0", "2.43.0"],
      ["2.38.0", "2.38.3", "2.39.0", "2.39.2", "2.40.0"],
    ],
    ["2024Sep", ["2.42.0", "2.42", "2.43.1"], ["2.38.7", "2.39.6", "2.40.9", "2.41.3"]],
    ["2024FriW5", ["2.43.0", "2.43", "2.44.0"], ["2.38.7", "2.41.3", "2.42.1"]],
    ["2024Feb", ["2.43.0"], ["2.42.1", "2.38.0"]],
    ["2024Aug", ["2.43.0"], ["2.42.1", "2.40.0"]],
  ];
  for (const [iso, accepted, refused] of table) {
    assert.equal(isValidPeriod(iso), true, `${iso}, version unknown`);
    for (const version of accepted) assert.equal(isValidPeriod(iso, { version }), true, version);
    for (const version of refused) {
      const check = checkPeriod(iso, { version });
      assert.equal(check.ok, false, `${iso} on ${version}`);
      assert.match(!check.ok ? check.reason : "", new RegExp(`DHIS2 ${version} does not know`));
    }
  }
  assert.deepEqual(checkPeriod("2024Feb", { version: "2.42" }), {
    ok: false,
    reason: "is a FinancialFeb period, which DHIS2 2.42 does not know",
  });
});
