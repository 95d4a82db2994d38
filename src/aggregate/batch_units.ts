/**
 * Order per data value. DHIS2 keys a value by (data element, category option combo, attribute
 * option combo, period, org unit) and keeps the last write, so:
 * - within one import only the newest submission's value of a key is sent (DHIS2 would keep
 *   whichever came last in the array, silently); the older submission is `delivered` with a note
 *   naming the newer one;
 * - a value is never sent when a newer submission that wrote that key has already been
 *   delivered to the destination (an old retry, or a requeue, must not overwrite newer data).
 * A unit is one delivery's values still to send, each spelled out with its own period, org unit
 * and attribute option combo, so units of many submissions can share one import.
 */
import type { DataValue, DataValueSetPayload } from "../dhis2/client.ts";
import type { ClaimedDelivery, FinishedDelivery } from "../queue/kind.ts";
import { normalisedPeriod } from "./ordering_key.ts";

/** DHIS2's default category option combo: what a missing combo means (reference §3.1). */
const DEFAULT_COMBO = "HllvX50cXC0";

export interface UnitItem {
  /** Position in the delivery's own payload (and its `codes`). */
  index: number;
  /** Spelled out: period, orgUnit and attributeOptionCombo on the value itself. */
  value: DataValue;
}

export interface Supersession {
  code: string;
  submissionId: number;
  taskId: string;
}

export interface Unit {
  job: ClaimedDelivery;
  payload: DataValueSetPayload;
  items: UnitItem[];
  superseded: Supersession[];
}

/**
 * `periods`: normalised periods already seen (a batch of 10,000 values spells a few dozen
 * periods; the two regular expressions per value were most of this function's time).
 */
export function valueKey(v: DataValue, periods?: Map<string, string>): string {
  const raw = v.period ?? "";
  let period = periods?.get(raw);
  if (period === undefined) {
    period = normalisedPeriod(raw);
    periods?.set(raw, period);
  }
  return `${v.dataElement}|${v.categoryOptionCombo || DEFAULT_COMBO}|${
    v.attributeOptionCombo || DEFAULT_COMBO
  }|${period}|${v.orgUnit ?? ""}`;
}

/** The payload's values with the header's period, org unit and attribute option combo. */
export function spelledOut(payload: DataValueSetPayload): DataValue[] {
  return (payload.dataValues ?? []).map((dv) => {
    const v: DataValue = { ...dv };
    const period = dv.period ?? payload.period;
    const orgUnit = dv.orgUnit ?? payload.orgUnit;
    const aoc = dv.attributeOptionCombo ?? payload.attributeOptionCombo;
    if (period !== undefined) v.period = period;
    if (orgUnit !== undefined) v.orgUnit = orgUnit;
    if (aoc !== undefined) v.attributeOptionCombo = aoc;
    return v;
  });
}

export function toUnit(job: ClaimedDelivery): Unit {
  const payload = job.payload as DataValueSetPayload;
  const unit: Unit = {
    job,
    payload,
    items: spelledOut(payload).map((value, index) => ({ index, value })),
    superseded: [],
  };
  if (job.newer?.length) dropWrittenByNewer(unit, job.newer);
  return unit;
}

/** Keys a finished newer delivery wrote: its values minus the ones DHIS2 refused. */
function writtenKeys(n: FinishedDelivery): Set<string> {
  const refused = new Set<string>();
  for (const c of (n.conflicts ?? []) as Array<{ codes?: unknown }>) {
    if (Array.isArray(c?.codes)) { for (const code of c.codes) refused.add(String(code)); }
  }
  const values = spelledOut(n.payload as DataValueSetPayload);
  const keys = new Set<string>();
  values.forEach((v, i) => {
    const code = n.codes?.[i];
    if (n.status === "partial" && code !== undefined && refused.has(code)) return;
    keys.add(valueKey(v));
  });
  return keys;
}

function dropWrittenByNewer(unit: Unit, newer: readonly FinishedDelivery[]): void {
  const written = newer.map((n) => ({ n, keys: writtenKeys(n) }));
  unit.items = unit.items.filter((it) => {
    const key = valueKey(it.value);
    // The newest writer names the value's current owner.
    const by = written.findLast((w) => w.keys.has(key));
    if (!by) return true;
    unit.superseded.push({
      code: unit.job.codes[it.index] ?? `#${it.index}`,
      submissionId: by.n.submissionId,
      taskId: by.n.taskId,
    });
    return false;
  });
}

/**
 * Within one batch, keeps only the newest unit's value of each key (newer = larger delivery id,
 * the order deliveries of one key were accepted in). `units` must be in id order.
 */
export function keepNewestPerKey(units: readonly Unit[]): void {
  const owner = new Map<string, Unit>();
  const periods = new Map<string, string>();
  for (let u = units.length - 1; u >= 0; u--) {
    const unit = units[u];
    unit.items = unit.items.filter((it) => {
      const key = valueKey(it.value, periods);
      const newer = owner.get(key);
      if (!newer) {
        owner.set(key, unit);
        return true;
      }
      unit.superseded.push({
        code: unit.job.codes[it.index] ?? `#${it.index}`,
        submissionId: newer.job.submissionId,
        taskId: newer.job.taskId,
      });
      return false;
    });
  }
}

/** "values of codes A, B superseded by newer submission 42 (task …)" for each newer one. */
export function supersededNote(unit: Unit): string | undefined {
  if (!unit.superseded.length) return undefined;
  const by = new Map<number, { taskId: string; codes: string[] }>();
  for (const s of unit.superseded) {
    const entry = by.get(s.submissionId) ?? { taskId: s.taskId, codes: [] };
    if (!entry.codes.includes(s.code)) entry.codes.push(s.code);
    by.set(s.submissionId, entry);
  }
  return [...by].map(([id, e]) =>
    `not sent: code${e.codes.length > 1 ? "s" : ""} ${e.codes.join(", ")} superseded by ` +
    `newer submission ${id} (task ${e.taskId})`
  ).join("; ");
}
