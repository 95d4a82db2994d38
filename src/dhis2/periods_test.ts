import assert from "node:assert/strict";
import { isValidPeriod, type ParsedPeriod, parsePeriod, weeksInYear } from "./periods.ts";

const valid: Array<[string, ParsedPeriod["type"], string, string]> = [
  ["20040315", "Daily", "2004-03-15", "2004-03-15"],
  ["2004-03-15", "Daily", "2004-03-15", "2004-03-15"],
  ["20240229", "Daily", "2024-02-29", "2024-02-29"],
  ["2024-02-29", "Daily", "2024-02-29", "2024-02-29"],
  ["20000229", "Daily", "2000-02-29", "2000-02-29"],
  ["20231231", "Daily", "2023-12-31", "2023-12-31"],
  ["2004W10", "Weekly", "2004-03-01", "2004-03-07"],
  ["2020W1", "Weekly", "2019-12-30", "2020-01-05"],
  ["2020W01", "Weekly", "2019-12-30", "2020-01-05"],
  ["2020W53", "Weekly", "2020-12-28", "2021-01-03"],
  ["2015W53", "Weekly", "2015-12-28", "2016-01-03"],
  ["2026W53", "Weekly", "2026-12-28", "2027-01-03"],
  ["2021W1", "Weekly", "2021-01-04", "2021-01-10"],
  ["2021W52", "Weekly", "2021-12-27", "2022-01-02"],
  ["2015WedW5", "WeeklyWednesday", "2015-01-28", "2015-02-03"],
  ["2020WedW52", "WeeklyWednesday", "2020-12-23", "2020-12-29"],
  ["2022WedW53", "WeeklyWednesday", "2022-12-28", "2023-01-03"],
  ["2016WedW53", "WeeklyWednesday", "2016-12-28", "2017-01-03"],
  ["2015ThuW6", "WeeklyThursday", "2015-02-05", "2015-02-11"],
  ["2015SatW7", "WeeklySaturday", "2015-02-14", "2015-02-20"],
  ["2015SunW8", "WeeklySunday", "2015-02-22", "2015-02-28"],
  ["2015BiW1", "BiWeekly", "2014-12-29", "2015-01-11"],
  ["2020BiW27", "BiWeekly", "2020-12-28", "2021-01-10"],
  ["2021BiW26", "BiWeekly", "2021-12-20", "2022-01-02"],
  ["202402", "Monthly", "2024-02-01", "2024-02-29"],
  ["2023-02", "Monthly", "2023-02-01", "2023-02-28"],
  ["200403", "Monthly", "2004-03-01", "2004-03-31"],
  ["202401B", "BiMonthly", "2024-01-01", "2024-02-29"],
  ["200402B", "BiMonthly", "2004-03-01", "2004-04-30"],
  ["202406B", "BiMonthly", "2024-11-01", "2024-12-31"],
  ["2004Q1", "Quarterly", "2004-01-01", "2004-03-31"],
  ["2024Q4", "Quarterly", "2024-10-01", "2024-12-31"],
  ["2024NovQ1", "QuarterlyNov", "2023-11-01", "2024-01-31"],
  ["2024NovQ2", "QuarterlyNov", "2024-02-01", "2024-04-30"],
  ["2024NovQ4", "QuarterlyNov", "2024-08-01", "2024-10-31"],
  ["2004S1", "SixMonthly", "2004-01-01", "2004-06-30"],
  ["2004S2", "SixMonthly", "2004-07-01", "2004-12-31"],
  ["2004AprilS1", "SixMonthlyApril", "2004-04-01", "2004-09-30"],
  ["2004AprilS2", "SixMonthlyApril", "2004-10-01", "2005-03-31"],
  ["2024NovS1", "SixMonthlyNov", "2023-11-01", "2024-04-30"],
  ["2024NovS2", "SixMonthlyNov", "2024-05-01", "2024-10-31"],
  ["2004", "Yearly", "2004-01-01", "2004-12-31"],
  ["2004April", "FinancialApril", "2004-04-01", "2005-03-31"],
  ["2004July", "FinancialJuly", "2004-07-01", "2005-06-30"],
  ["2004Oct", "FinancialOct", "2004-10-01", "2005-09-30"],
  ["2024Nov", "FinancialNov", "2023-11-01", "2024-10-31"],
  ["2024Sep", "FinancialSep", "2024-09-01", "2025-08-31"],
  ["2024FriW1", "WeeklyFriday", "2023-12-29", "2024-01-04"],
  ["2024Feb", "FinancialFeb", "2024-02-01", "2025-01-31"],
  ["2024Aug", "FinancialAug", "2024-08-01", "2025-07-31"],
];

const invalid: Array<[string, string]> = [
  ["", "empty"],
  [" 2024", "leading space"],
  ["2024 ", "trailing space"],
  ["2024Q1\n", "trailing newline"],
  ["abcd", "letters"],
  ["24Q1", "two-digit year"],
  ["0000", "year zero"],
  ["20240230", "30 February"],
  ["20230229", "29 February in a common year"],
  ["19000229", "1900 is not a leap year"],
  ["20241301", "month 13"],
  ["20240100", "day 0"],
  ["20240132", "day 32"],
  ["2024-0229", "half-dashed day"],
  ["202402-29", "half-dashed day"],
  ["2021W53", "2021 has 52 ISO weeks"],
  ["2024W53", "2024 has 52 ISO weeks"],
  ["2022W53", "2022 has 52 ISO weeks"],
  ["2024W0", "week 0"],
  ["2024W00", "week 00"],
  ["2024W54", "week 54"],
  ["2024W100", "three-digit week"],
  ["2024w1", "lower-case w"],
  ["2024-W01", "ISO 8601 extended week"],
  ["2020WedW53", "overflows into 2021"],
  ["2019WedW53", "overflows into 2020"],
  ["2021BiW27", "week 53 does not exist in 2021"],
  ["2024BiW28", "bi-week 28"],
  ["2024FriW54", "week 54"],
  ["2024BiW0", "bi-week 0"],
  ["202400", "month 00"],
  ["202413", "month 13"],
  ["2024-13", "month 13 dashed"],
  ["20241", "one-digit month"],
  ["202407B", "bi-month 07"],
  ["202400B", "bi-month 00"],
  ["20241B", "one-digit bi-month"],
  ["2024Q0", "quarter 0"],
  ["2024Q5", "quarter 5"],
  ["2024Q01", "two-digit quarter"],
  ["2024NovQ5", "QuarterlyNov 5"],
  ["2024NovQ", "missing quarter"],
  ["2024S0", "half 0"],
  ["2024S3", "half 3"],
  ["2024AprilS3", "half 3"],
  ["2024NovS0", "half 0"],
  ["2024AprilQ1", "no such type"],
  ["2024april", "case matters"],
];

Deno.test("parsePeriod returns type and interval for every ISO period type", () => {
  for (const [iso, type, start, end] of valid) {
    assert.deepEqual(parsePeriod(iso), { type, start, end }, iso);
    assert.equal(isValidPeriod(iso), true, iso);
  }
});

Deno.test("parsePeriod refuses impossible or malformed periods", () => {
  for (const [iso, why] of invalid) {
    assert.equal(parsePeriod(iso), null, `${iso}: ${why}`);
    assert.equal(isValidPeriod(iso), false, `${iso}: ${why}`);
  }
});

Deno.test("week 53 exists exactly when its fourth day is still in the year", () => {
  // Independent oracle built on Date: a week belongs to the year holding its fourth day.
  const prefixes: Array<[string, number]> = [["", 1], ["Wed", 3], ["Thu", 4], ["Sat", 6], [
    "Sun",
    7,
  ]];
  let fiftyThree = 0;
  for (let year = 1990; year <= 2040; year++) {
    for (const [prefix, weekStart] of prefixes) {
      const jan4 = new Date(Date.UTC(year, 0, 4));
      const isoDay = jan4.getUTCDay() === 0 ? 7 : jan4.getUTCDay();
      const week1 = Date.UTC(year, 0, 4 - ((isoDay - weekStart + 7) % 7));
      const fourthDayOfWeek53 = new Date(week1 + (52 * 7 + 3) * 86_400_000);
      const expected = fourthDayOfWeek53.getUTCFullYear() === year;
      assert.equal(isValidPeriod(`${year}${prefix}W53`), expected, `${year}${prefix}W53`);
      assert.equal(weeksInYear(year, weekStart), expected ? 53 : 52);
      if (expected) fiftyThree++;
    }
  }
  // Sanity: roughly 71 of 400 years have 53 weeks, so the oracle is not trivially false.
  assert.ok(fiftyThree > 30, String(fiftyThree));
});
