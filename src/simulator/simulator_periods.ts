/**
 * The simulator's period parser for weekly types, written from dhis2-core's rules rather than
 * from dhis2gw's `periods.ts`, so the two check each other (reference §12):
 * - 2.38–2.42 refuse week n of every weekly type and BiWeekly when n exceeds Joda's
 *   `weekOfWeekyear` maximum on 1 January; a larger week in range is built anyway, from week
 *   1 of the year, and so lands in the next year (`2021W53` = 2022-01-03…09).
 * - 2.43 refuses a weekly period that overflows into the next year; BiWeekly keeps the old check.
 * Other types come from `parsePeriod` with the version (which types exist is a table there).
 */

import { type ParsedPeriod, parsePeriod } from "../dhis2/periods.ts";

const DAY = 86_400_000;
const START: Record<string, [ParsedPeriod["type"], number]> = {
  "": ["Weekly", 1],
  Wed: ["WeeklyWednesday", 3],
  Thu: ["WeeklyThursday", 4],
  Fri: ["WeeklyFriday", 5],
  Sat: ["WeeklySaturday", 6],
  Sun: ["WeeklySunday", 7],
};

const isoDay = (t: number) => ((new Date(t).getUTCDay() + 6) % 7) + 1;
const iso = (t: number) => new Date(t).toISOString().slice(0, 10);

/** First day of week 1 for a start day: the start day on or before 4 January. */
function week1(year: number, startDay: number): number {
  const jan4 = Date.UTC(year, 0, 4);
  return jan4 - ((isoDay(jan4) - startDay + 7) % 7) * DAY;
}

/** Joda's weekOfWeekyear maximum on 1 January: the ISO weeks of 1 January's week-year. */
function jodaWeeksInYear(year: number): number {
  const jan1 = Date.UTC(year, 0, 1);
  const weekYear = isoDay(jan1) >= 5 ? year - 1 : year;
  return (week1(weekYear + 1, 1) - week1(weekYear, 1)) / (7 * DAY);
}

export function simulatedPeriod(key: string, fullVersion: string): ParsedPeriod | null {
  const minor = Number(fullVersion.split(".")[1]);
  const weekly = /^(\d{4})(|Wed|Thu|Fri|Sat|Sun)W(\d\d?)$/.exec(key);
  const bi = /^(\d{4})BiW(\d\d?)$/.exec(key);
  if (!weekly && !bi) return parsePeriod(key, { version: fullVersion });
  const year = Number(key.slice(0, 4));
  if (year < 1) return null;
  if (bi) {
    const first = Number(bi[2]) * 2 - 1;
    if (first < 1 || first > jodaWeeksInYear(year)) return null;
    const start = week1(year, 1) + (first - 1) * 7 * DAY;
    return { type: "BiWeekly", start: iso(start), end: iso(start + 13 * DAY) };
  }
  const [type, startDay] = START[weekly![2]];
  if (startDay === 5 && minor < 43) return null;
  const week = Number(weekly![3]);
  const start = week1(year, startDay) + (week - 1) * 7 * DAY;
  if (week < 1) return null;
  if (minor < 43 && week > jodaWeeksInYear(year)) return null;
  // 2.43: the week's days mostly in the next year make it that year's week 1, not this one's.
  if (minor >= 43 && new Date(start + 3 * DAY).getUTCFullYear() > year) return null;
  return { type, start: iso(start), end: iso(start + 6 * DAY) };
}
