/**
 * ISO period identifiers as DHIS2 accepts them on import (reference §5).
 *
 * Mirrors DHIS2's two steps: a full-string pattern match picks the period type
 * (`DateUnitType.find`), then the interval is built and impossible values are refused
 * (`DateUnitPeriodTypeParser` returns null → conflict E7611). ISO calendar only.
 */

export const PERIOD_TYPE_NAMES = [
  "Daily",
  "Weekly",
  "WeeklyWednesday",
  "WeeklyThursday",
  "WeeklySaturday",
  "WeeklySunday",
  "BiWeekly",
  "Monthly",
  "BiMonthly",
  "Quarterly",
  "QuarterlyNov",
  "SixMonthly",
  "SixMonthlyApril",
  "SixMonthlyNov",
  "Yearly",
  "FinancialApril",
  "FinancialJuly",
  "FinancialOct",
  "FinancialNov",
  "FinancialSep",
  "WeeklyFriday",
  "FinancialFeb",
  "FinancialAug",
] as const;

export type PeriodTypeName = typeof PERIOD_TYPE_NAMES[number];

/** A parsed period: its type and first/last day, both inclusive, as `YYYY-MM-DD`. */
export interface ParsedPeriod {
  type: PeriodTypeName;
  start: string;
  end: string;
}

/** A DHIS2 release; `patch` null when only `2.41` is known (then any patch's rules are accepted). */
export interface Dhis2Release {
  minor: number;
  patch: number | null;
}

export interface PeriodParseOptions {
  /**
   * The target DHIS2's version (`2.41.3`, `2.41` or parsed). Unknown (the default): accept
   * what any supported version (2.38–2.43) accepts correctly and let the outcome decide.
   */
  version?: Dhis2Release | string | null;
}

/** `2.41.3`, `2.41`, `2.43.1-SNAPSHOT` → release; anything else null. */
export function parseDhis2Version(version: string | null | undefined): Dhis2Release | null {
  const m = /^2\.(\d{1,3})(?:\.(\d{1,3}))?/.exec(String(version ?? "").trim());
  return m ? { minor: Number(m[1]), patch: m[2] === undefined ? null : Number(m[2]) } : null;
}

/** True when `release` is at least 2.`minor`.`patch` (an unknown patch counts as the latest). */
function atLeast(release: Dhis2Release, minor: number, patch = 0): boolean {
  if (release.minor !== minor) return release.minor > minor;
  return release.patch === null || release.patch >= patch;
}

/** Which period types a release knows (reference §12, `DateUnitType` per tag). */
function knowsType(type: PeriodTypeName, release: Dhis2Release | null): boolean {
  if (release === null) return true;
  switch (type) {
    case "QuarterlyNov":
      // Added in 2.38.4, 2.39.3 and 2.40.1.
      return release.minor === 38
        ? atLeast(release, 38, 4)
        : release.minor === 39
        ? atLeast(release, 39, 3)
        : atLeast(release, 40, 1);
    case "FinancialSep":
      return atLeast(release, 42);
    case "WeeklyFriday":
    case "FinancialFeb":
    case "FinancialAug":
      return atLeast(release, 43);
    default:
      return true;
  }
}

/** The outcome of checking a period: the parsed period, or why it is refused. */
export type PeriodCheck =
  | { ok: true; period: ParsedPeriod }
  | { ok: false; reason: string };

// ---- calendar arithmetic on day numbers (days since 1970-01-01), proleptic Gregorian.
// Done by hand rather than with Date because Date.UTC maps years 0–99 to 1900–1999.

function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) -
      Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [m <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, m, d];
}

function formatDay(days: number): string {
  const [y, m, d] = civilFromDays(days);
  return `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${
    String(d).padStart(2, "0")
  }`;
}

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysInMonth(y: number, m: number): number {
  return [31, isLeapYear(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
}

/** ISO weekday, Monday = 1 … Sunday = 7 (1970-01-01 was a Thursday). */
function isoWeekday(days: number): number {
  return (((days + 3) % 7) + 7) % 7 + 1;
}

/**
 * First day of week 1 for weeks starting on `weekStart` (ISO weekday). DHIS2 uses
 * `WeekFields.of(startDay, 4)`: week 1 is the first week with at least four days in the year,
 * i.e. the week that contains 4 January – the ISO rule, generalised to other start days.
 */
function firstWeekStart(year: number, weekStart: number): number {
  const jan4 = daysFromCivil(year, 1, 4);
  return jan4 - ((isoWeekday(jan4) - weekStart + 7) % 7);
}

/** 52 or 53: how many weeks (starting on `weekStart`) belong to `year`. */
export function weeksInYear(year: number, weekStart = 1): number {
  return (firstWeekStart(year + 1, weekStart) - firstWeekStart(year, weekStart)) / 7;
}

/**
 * DHIS2 2.38–2.42's week count for every weekly type and (all versions) BiWeekly: Joda's
 * `weekOfWeekyear` maximum taken on 1 January, i.e. the ISO (Monday) week count of the
 * week-year that contains 1 January, whatever the start day (reference §12).
 */
export function legacyWeeksInYear(year: number): number {
  const jan1 = daysFromCivil(year, 1, 1);
  // 1 January on a Friday, Saturday or Sunday belongs to the previous ISO week-year.
  return weeksInYear(isoWeekday(jan1) >= 5 ? year - 1 : year, 1);
}

/** An interval of whole months: `count` months from (year, month); month may be ≤ 0. */
function months(type: PeriodTypeName, year: number, month: number, count: number): ParsedPeriod {
  const first = year * 12 + (month - 1);
  const last = first + count - 1;
  const lastYear = Math.floor(last / 12);
  const lastMonth = (last % 12) + 1;
  return {
    type,
    start: formatDay(daysFromCivil(Math.floor(first / 12), (first % 12) + 1, 1)),
    end: formatDay(daysFromCivil(lastYear, lastMonth, daysInMonth(lastYear, lastMonth))),
  };
}

function days(type: PeriodTypeName, start: number, end: number): ParsedPeriod {
  return { type, start: formatDay(start), end: formatDay(end) };
}

const WEEK_START: Record<string, [PeriodTypeName, number]> = {
  "": ["Weekly", 1],
  Wed: ["WeeklyWednesday", 3],
  Thu: ["WeeklyThursday", 4],
  Fri: ["WeeklyFriday", 5],
  Sat: ["WeeklySaturday", 6],
  Sun: ["WeeklySunday", 7],
};

/** Financial years: the type name and the first month; FinancialNov starts the year before. */
const FINANCIAL: Record<string, [PeriodTypeName, number, number]> = {
  April: ["FinancialApril", 4, 0],
  July: ["FinancialJuly", 7, 0],
  Oct: ["FinancialOct", 10, 0],
  Nov: ["FinancialNov", 11, -1],
  Sep: ["FinancialSep", 9, 0],
  Feb: ["FinancialFeb", 2, 0],
  Aug: ["FinancialAug", 8, 0],
};

// Full-string patterns of §5. Java's `\d` is ASCII-only, as is JavaScript's.
const DAILY = /^(\d{4})(?:(\d{2})(\d{2})|-(\d{2})-(\d{2}))$/;
const WEEKLY = /^(\d{4})(|Wed|Thu|Fri|Sat|Sun)W(\d\d?)$/;
const BI_WEEKLY = /^(\d{4})BiW(\d\d?)$/;
const MONTHLY = /^(\d{4})-?(\d{2})$/;
const BI_MONTHLY = /^(\d{4})(\d{2})B$/;
const QUARTERLY = /^(\d{4})(Nov)?Q(\d)$/;
const SIX_MONTHLY = /^(\d{4})(|April|Nov)S(\d)$/;
const YEARLY = /^(\d{4})$/;
const FINANCIAL_YEAR = /^(\d{4})(April|July|Oct|Nov|Sep|Feb|Aug)$/;

/**
 * Parses an ISO period identifier into its type and interval, or null when DHIS2 would
 * refuse it (unknown pattern or impossible value). Year 0000 is refused: DHIS2's Java
 * calendar would accept it, but no real data carries it and the Nov types would reach year -1.
 */
export function parsePeriod(iso: string, options: PeriodParseOptions = {}): ParsedPeriod | null {
  const check = checkPeriod(iso, options);
  return check.ok ? check.period : null;
}

export function isValidPeriod(iso: string, options: PeriodParseOptions = {}): boolean {
  return checkPeriod(iso, options).ok;
}

const NOT_ISO = "is not a valid DHIS2 ISO period";

/**
 * Checks a period against the target version's rules. A week that some version accepts but
 * files under other days (2.38–2.42 take `2021W53` as the days of `2022W1`) is refused with
 * a reason: delivering it would silently overwrite the next year's first week.
 */
export function checkPeriod(iso: string, options: PeriodParseOptions = {}): PeriodCheck {
  const release = typeof options.version === "string"
    ? parseDhis2Version(options.version)
    : options.version ?? null;
  const parsed = parseAny(iso);
  if (parsed === null) return { ok: false, reason: NOT_ISO };
  const { period, week, weekStart } = parsed;
  if (!knowsType(period.type, release)) {
    const v = release === null
      ? ""
      : `2.${release.minor}${release.patch === null ? "" : `.${release.patch}`}`;
    return { ok: false, reason: `is a ${period.type} period, which DHIS2 ${v} does not know` };
  }
  if (week === undefined) return { ok: true, period };
  const year = Number(iso.slice(0, 4));
  const bi = period.type === "BiWeekly";
  // BiWeekly counts ISO weeks; each weekly type counts its own weeks (week 1 holds 4 January).
  const own = weeksInYear(year, bi ? 1 : weekStart);
  // 2.43 refuses a weekly period that overflows into the next year; BiWeekly and every
  // weekly type before 2.43 refuse beyond the legacy count instead.
  const legacy = bi || (release !== null && release.minor <= 42);
  if (week > own) {
    if (legacy && week <= legacyWeeksInYear(year)) {
      return {
        ok: false,
        reason: `does not exist: ${year} has only ${own} such weeks, and DHIS2 ${
          bi ? "" : "2.38–2.42 "
        }would file it under ${period.start}…${period.end}, the first days of ${
          year + 1
        }, overwriting that week's data`,
      };
    }
    return { ok: false, reason: `does not exist: ${year} has only ${own} such weeks` };
  }
  if (legacy && week > legacyWeeksInYear(year)) {
    return {
      ok: false,
      reason: `is refused by DHIS2 2.38–2.42, which count ${
        legacyWeeksInYear(year)
      } weeks in ${year} for every weekly type`,
    };
  }
  return { ok: true, period };
}

interface Parsed {
  period: ParsedPeriod;
  /** Weekly types: the week number (BiWeekly: its first ISO week) and the start day. */
  week?: number;
  weekStart?: number;
}

/** Pattern and value checks shared by every version; week counts are left to the caller. */
function parseAny(iso: string): Parsed | null {
  if (typeof iso !== "string") return null;
  const year = Number(iso.slice(0, 4));
  if (!/^\d{4}/.test(iso) || year < 1) return null;
  let m: RegExpExecArray | null;
  const whole = (period: ParsedPeriod | null) => period && { period };

  if ((m = DAILY.exec(iso))) {
    const month = Number(m[2] ?? m[4]);
    const day = Number(m[3] ?? m[5]);
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
    const d = daysFromCivil(year, month, day);
    return whole(days("Daily", d, d));
  }
  if ((m = WEEKLY.exec(iso))) {
    const [type, weekStart] = WEEK_START[m[2]];
    const week = Number(m[3]);
    if (week < 1 || week > 53) return null;
    const start = firstWeekStart(year, weekStart) + (week - 1) * 7;
    return { period: days(type, start, start + 6), week, weekStart };
  }
  if ((m = BI_WEEKLY.exec(iso))) {
    // BiWeek n covers ISO weeks 2n-1 and 2n; valid while 2n-1 exists in the year (§5).
    const firstWeek = Number(m[2]) * 2 - 1;
    if (firstWeek < 1 || firstWeek > 53) return null;
    const start = firstWeekStart(year, 1) + (firstWeek - 1) * 7;
    return { period: days("BiWeekly", start, start + 13), week: firstWeek, weekStart: 1 };
  }
  if ((m = MONTHLY.exec(iso))) {
    const month = Number(m[2]);
    if (month < 1 || month > 12) return null;
    return whole(months("Monthly", year, month, 1));
  }
  if ((m = BI_MONTHLY.exec(iso))) {
    // The two digits are the bi-month index 01–06, not a month (§5).
    const index = Number(m[2]);
    if (index < 1 || index > 6) return null;
    return whole(months("BiMonthly", year, index * 2 - 1, 2));
  }
  if ((m = QUARTERLY.exec(iso))) {
    const quarter = Number(m[3]);
    if (quarter < 1 || quarter > 4) return null;
    // QuarterlyNov Q1 starts in November of the previous year (2024NovQ1 = Nov 2023–Jan 2024).
    return whole(
      m[2]
        ? months("QuarterlyNov", year, (quarter - 1) * 3 - 1, 3)
        : months("Quarterly", year, (quarter - 1) * 3 + 1, 3),
    );
  }
  if ((m = SIX_MONTHLY.exec(iso))) {
    const half = Number(m[3]);
    if (half < 1 || half > 2) return null;
    if (m[2] === "April") return whole(months("SixMonthlyApril", year, half === 1 ? 4 : 10, 6));
    if (m[2] === "Nov") return whole(months("SixMonthlyNov", year, half === 1 ? -1 : 5, 6));
    return whole(months("SixMonthly", year, half === 1 ? 1 : 7, 6));
  }
  if (YEARLY.test(iso)) return whole(months("Yearly", year, 1, 12));
  if ((m = FINANCIAL_YEAR.exec(iso))) {
    const [type, firstMonth, yearShift] = FINANCIAL[m[2]];
    return whole(months(type, year + yearShift, firstMonth, 12));
  }
  return null;
}
