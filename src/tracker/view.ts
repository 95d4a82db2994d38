/**
 * What GET /api/v3/logs/{id} shows of a tracker submission: each object with its result, the
 * async jobs followed, and, for anyone but an admin, the payloads without attribute values
 * (names and identifiers of people) and DHIS2's messages, which can quote a value.
 */
import type { Db } from "../db/db.ts";
import type { ObjectFailure } from "./outcome.ts";
import { jobsOfSubmission, objectsOfSubmission, TRACKER } from "./queries.ts";

export const HIDDEN = "[hidden]";

interface Row {
  id: number;
  kind: string;
  status: string;
  payload: unknown;
  dhis2_payload: unknown;
  conflicts: unknown;
  response: unknown;
  attempts_log: Array<{ conflicts: unknown }>;
  /** One per destination (several DHIS2s): each carries its own conflicts and reply. */
  deliveries?: Array<{ conflicts: unknown; response: unknown; payload?: unknown }>;
}

/** Attribute values (DHIS2's `[{attribute, value}]` and the coded `{code: value}`) and notes. */
export function hideAttributeValues(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(hideAttributeValues);
  if (typeof v !== "object" || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === "attributes" && Array.isArray(x)) {
      out[k] = x.map((a) =>
        typeof a === "object" && a !== null && "value" in a ? { ...a, value: HIDDEN } : a
      );
    } else if (k === "attributes" && typeof x === "object" && x !== null) {
      out[k] = Object.fromEntries(Object.keys(x).map((c) => [c, HIDDEN]));
    } else if (k === "notes" && Array.isArray(x)) out[k] = x.map(() => ({ value: HIDDEN }));
    else out[k] = hideAttributeValues(x);
  }
  return out;
}

const withoutMessages = (conflicts: unknown) =>
  Array.isArray(conflicts)
    ? conflicts.map((c) => typeof c === "object" && c !== null ? { ...c, message: HIDDEN } : c)
    : conflicts;

const RESULT: Record<string, string> = {
  delivered: "imported",
  partial: "imported",
  rejected: "not imported",
  dead: "not imported",
};

export async function trackerDetail<T extends Row>(sql: Db, row: T, admin: boolean) {
  if (row.kind !== TRACKER) return row;
  const [objects, jobs, [purge]] = await Promise.all([
    objectsOfSubmission(sql, row.id),
    jobsOfSubmission(sql, row.id),
    sql<
      { at: Date | null }[]
    >`select payload_purged_at as at from submissions where id = ${row.id}`,
  ]);
  // Every error of each object, in DHIS2's order: the first is the root cause (an unknown
  // relationship type before the people it links), so it is the object's error.
  const failures = new Map<string, ObjectFailure[]>();
  for (const f of Array.isArray(row.conflicts) ? row.conflicts as ObjectFailure[] : []) {
    const key = `${f.type}:${f.uid}`;
    failures.set(key, [...failures.get(key) ?? [], f]);
  }
  const text = (f: ObjectFailure) => admin ? f.message : HIDDEN;
  const tracker = {
    payload_purged_at: purge?.at ?? null,
    objects: objects.map((o) => {
      const all = failures.get(`${o.type}:${o.uid}`) ?? [];
      const f = all[0];
      return {
        type: o.type,
        uid: o.uid,
        path: o.path,
        generated: o.generated,
        result: f ? "refused" : RESULT[row.status] ?? "pending",
        error_code: f?.errorCode ?? null,
        message: f ? text(f) : null,
        ...(all.length
          ? { errors: all.map((e) => ({ code: e.errorCode, message: text(e) })) }
          : {}),
      };
    }),
    jobs,
  };
  if (admin) return { ...row, tracker };
  return {
    ...row,
    payload: hideAttributeValues(row.payload),
    dhis2_payload: hideAttributeValues(row.dhis2_payload),
    conflicts: withoutMessages(row.conflicts),
    response: null,
    attempts_log: row.attempts_log.map((a) => ({ ...a, conflicts: withoutMessages(a.conflicts) })),
    deliveries: row.deliveries?.map((d) => ({
      ...d,
      conflicts: withoutMessages(d.conflicts),
      response: null,
      ...(d.payload === undefined ? {} : { payload: hideAttributeValues(d.payload) }),
    })),
    tracker,
  };
}
