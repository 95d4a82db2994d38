/**
 * A list's time filter (`from`, `to`) as the caller wrote it, and its SQL: shared by the lists
 * that filter on an `at` column (the request log, the audit trail).
 */
import type { Db } from "./db.ts";

/** A bound as the caller wrote it: a whole day in server.timezone, or an instant. */
export type TimeBound = { day: string } | { instant: string };

/** `at` within the bounds; a day bound is the whole day in `tz` (`to` includes its day). */
export function timeWhere(
  sql: Db,
  from: TimeBound | undefined,
  to: TimeBound | undefined,
  tz: string,
) {
  const lower = !from
    ? sql`true`
    : "day" in from
    ? sql`at >= (${from.day}::date)::timestamp at time zone ${tz}`
    : sql`at >= ${from.instant}::timestamptz`;
  const upper = !to
    ? sql`true`
    : "day" in to
    ? sql`at < ((${to.day}::date + 1)::timestamp at time zone ${tz})`
    : sql`at <= ${to.instant}::timestamptz`;
  return sql`${lower} and ${upper}`;
}
