/**
 * A DHIS2 tracker payload as a caller sends it (nested or flat, reference §4.1) checked and
 * turned into the flat bundle that is stored and sent: every object gets its UID at intake (a
 * resend with importStrategy=CREATE_AND_UPDATE is then an update, never a duplicate, §4.5),
 * nested children get their parent's UID, and each object remembers its JSON path in the
 * request so DHIS2's per-object errors can be shown where the caller put the object.
 */
import { createHash } from "node:crypto";
import type { FieldProblem } from "../http/errors.ts";
import { generateUid, isUid } from "../dhis2/uid.ts";
import { geometryProblem } from "./geometry.ts";

export type TrackerType = "TRACKED_ENTITY" | "ENROLLMENT" | "EVENT" | "RELATIONSHIP";
export type Obj = Record<string, unknown>;

/** What DHIS2 takes at /api/tracker, flat (children reference parents by UID). */
export interface FlatBundle {
  trackedEntities: Obj[];
  enrollments: Obj[];
  events: Obj[];
  relationships: Obj[];
}

/** One object of a bundle, in flat order (tracked entities, enrollments, events, relationships). */
export interface TrackerObject {
  type: TrackerType;
  uid: string;
  /** Where it was in the request as received. */
  path: string;
  generated: boolean;
  trackedEntity: string | null;
  enrollment: string | null;
}

export const COLLECTIONS = [
  ["trackedEntities", "TRACKED_ENTITY", "trackedEntity"],
  ["enrollments", "ENROLLMENT", "enrollment"],
  ["events", "EVENT", "event"],
  ["relationships", "RELATIONSHIP", "relationship"],
] as const;

export const ENROLLMENT_STATUSES = ["ACTIVE", "COMPLETED", "CANCELLED"];
export const EVENT_STATUSES = ["ACTIVE", "COMPLETED", "VISITED", "SCHEDULE", "OVERDUE", "SKIPPED"];

const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** An ISO 8601 date or date-time that names a real day and time. */
export function isIsoDate(v: unknown): boolean {
  if (typeof v !== "string") return false;
  const m = ISO_DATE.exec(v);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) {
    return false;
  }
  return (m[4] === undefined || Number(m[4]) < 24) && (m[5] === undefined || Number(m[5]) < 60) &&
    (m[6] === undefined || Number(m[6]) < 60);
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

interface Walk {
  problems: FieldProblem[];
  flat: FlatBundle;
  objects: TrackerObject[][];
  seen: Map<string, string>;
}

/** Checks and flattens a raw tracker payload; problems name each bad field by its JSON path. */
export function normaliseBundle(
  body: unknown,
  newUid: () => string = generateUid,
): { ok: true; bundle: FlatBundle; objects: TrackerObject[] } | {
  ok: false;
  problems: FieldProblem[];
} {
  const w: Walk = {
    problems: [],
    flat: { trackedEntities: [], enrollments: [], events: [], relationships: [] },
    objects: [[], [], [], []],
    seen: new Map(),
  };
  if (!isObj(body)) {
    return { ok: false, problems: [{ field: "$", message: "must be a JSON object" }] };
  }
  for (const [key] of COLLECTIONS) {
    if (body[key] !== undefined && !Array.isArray(body[key])) {
      w.problems.push({ field: `$.${key}`, message: "must be an array" });
    }
  }
  const list = (v: unknown) => Array.isArray(v) ? v : [];
  list(body.trackedEntities).forEach((te, i) =>
    trackedEntity(w, te, `$.trackedEntities[${i}]`, newUid)
  );
  list(body.enrollments).forEach((en, i) => enrollment(w, en, `$.enrollments[${i}]`, null, newUid));
  list(body.events).forEach((ev, i) => event(w, ev, `$.events[${i}]`, null, newUid));
  list(body.relationships).forEach((r, i) => relationship(w, r, `$.relationships[${i}]`, newUid));
  const objects = w.objects.flat();
  if (!w.problems.length && !objects.length) {
    w.problems.push({
      field: "$",
      message: "no trackedEntities, enrollments, events or relationships to import",
    });
  }
  if (w.problems.length) return { ok: false, problems: w.problems };
  // Top-level events name only their enrollment: find its tracked entity in this bundle.
  const teOfEnrollment = new Map(
    w.objects[1].map((o) => [o.uid, o.trackedEntity]),
  );
  for (const o of w.objects[2]) {
    if (!o.trackedEntity && o.enrollment) {
      o.trackedEntity = teOfEnrollment.get(o.enrollment) ?? null;
    }
  }
  return { ok: true, bundle: w.flat, objects };
}

function problem(w: Walk, field: string, message: string): void {
  w.problems.push({ field, message });
}

/** The object's own UID: checked when given, generated when absent; duplicates refused. */
function ownUid(
  w: Walk,
  o: Obj,
  key: string,
  type: TrackerType,
  path: string,
  newUid: () => string,
): { uid: string; generated: boolean } {
  const given = o[key];
  let uid: string;
  let generated = false;
  if (given === undefined || given === null || given === "") {
    uid = newUid();
    generated = true;
  } else if (!isUid(given)) {
    problem(
      w,
      `${path}.${key}`,
      "not a DHIS2 UID (11 characters: a letter, then letters or digits)",
    );
    uid = String(given);
  } else uid = given;
  const seenAt = w.seen.get(`${type}:${uid}`);
  if (seenAt) problem(w, `${path}.${key}`, `duplicate UID ${uid} (also at ${seenAt})`);
  else w.seen.set(`${type}:${uid}`, path);
  return { uid, generated };
}

function uidField(w: Walk, o: Obj, key: string, path: string, required: boolean): string | null {
  const v = o[key];
  if (v === undefined || v === null || v === "") {
    if (required) problem(w, `${path}.${key}`, "required");
    return null;
  }
  if (!isUid(v)) {
    problem(
      w,
      `${path}.${key}`,
      "not a DHIS2 UID (11 characters: a letter, then letters or digits)",
    );
    return null;
  }
  return v;
}

function dateField(w: Walk, o: Obj, key: string, path: string, required: boolean): void {
  const v = o[key];
  if (v === undefined || v === null || v === "") {
    if (required) problem(w, `${path}.${key}`, "required");
  } else if (!isIsoDate(v)) {
    problem(w, `${path}.${key}`, "not an ISO 8601 date (2024-01-31 or 2024-01-31T10:00:00)");
  }
}

function geometryField(w: Walk, o: Obj, path: string): void {
  const why = geometryProblem(o.geometry);
  if (why) problem(w, `${path}.geometry`, why);
}

function statusField(w: Walk, o: Obj, path: string, allowed: string[]): string | null {
  const v = o.status;
  if (v === undefined || v === null) return null;
  if (typeof v !== "string" || !allowed.includes(v)) {
    problem(w, `${path}.status`, `must be one of ${allowed.join(", ")}`);
    return null;
  }
  return v;
}

/** `attributes` or `dataValues`: an array of {<key>: UID, value: scalar or null}. */
function values(w: Walk, o: Obj, field: string, key: string, path: string): void {
  const v = o[field];
  if (v === undefined) return;
  if (!Array.isArray(v)) return problem(w, `${path}.${field}`, "must be an array");
  const seen = new Set<string>();
  v.forEach((item, i) => {
    const p = `${path}.${field}[${i}]`;
    if (!isObj(item)) return problem(w, p, "must be an object");
    const id = uidField(w, item, key, p, true);
    if (id && seen.has(id)) problem(w, `${p}.${key}`, `${id} appears twice`);
    if (id) seen.add(id);
    const value = item.value;
    if (
      value !== null && value !== undefined && typeof value !== "string" &&
      typeof value !== "number" && typeof value !== "boolean"
    ) problem(w, `${p}.value`, "must be a string, number, boolean or null");
  });
}

function children(w: Walk, o: Obj, key: string, path: string): unknown[] {
  const v = o[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    problem(w, `${path}.${key}`, "must be an array");
    return [];
  }
  return v;
}

/** A copy without the nested collections (they are flattened next to it). */
function without(o: Obj, ...keys: string[]): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) if (!keys.includes(k)) out[k] = v;
  return out;
}

function trackedEntity(w: Walk, te: unknown, path: string, newUid: () => string): void {
  if (!isObj(te)) return problem(w, path, "must be an object");
  const { uid, generated } = ownUid(w, te, "trackedEntity", "TRACKED_ENTITY", path, newUid);
  uidField(w, te, "trackedEntityType", path, true);
  uidField(w, te, "orgUnit", path, true);
  geometryField(w, te, path);
  values(w, te, "attributes", "attribute", path);
  w.flat.trackedEntities.push({
    ...without(te, "enrollments", "relationships"),
    trackedEntity: uid,
  });
  w.objects[0].push({
    type: "TRACKED_ENTITY",
    uid,
    path,
    generated,
    trackedEntity: uid,
    enrollment: null,
  });
  children(w, te, "enrollments", path).forEach((en, i) =>
    enrollment(w, en, `${path}.enrollments[${i}]`, uid, newUid)
  );
  children(w, te, "relationships", path).forEach((r, i) =>
    relationship(w, r, `${path}.relationships[${i}]`, newUid)
  );
}

function enrollment(
  w: Walk,
  en: unknown,
  path: string,
  parentTe: string | null,
  newUid: () => string,
): void {
  if (!isObj(en)) return problem(w, path, "must be an object");
  const { uid, generated } = ownUid(w, en, "enrollment", "ENROLLMENT", path, newUid);
  const te = uidField(w, en, "trackedEntity", path, parentTe === null);
  if (parentTe && te && te !== parentTe) {
    problem(w, `${path}.trackedEntity`, `differs from the enclosing tracked entity ${parentTe}`);
  }
  const program = uidField(w, en, "program", path, true);
  uidField(w, en, "orgUnit", path, true);
  dateField(w, en, "enrolledAt", path, true);
  dateField(w, en, "occurredAt", path, false);
  dateField(w, en, "completedAt", path, false);
  statusField(w, en, path, ENROLLMENT_STATUSES);
  geometryField(w, en, path);
  values(w, en, "attributes", "attribute", path);
  const trackedEntity = parentTe ?? te;
  w.flat.enrollments.push({
    ...without(en, "events", "relationships"),
    enrollment: uid,
    ...(trackedEntity ? { trackedEntity } : {}),
  });
  w.objects[1].push({ type: "ENROLLMENT", uid, path, generated, trackedEntity, enrollment: uid });
  children(w, en, "events", path).forEach((ev, i) =>
    event(w, ev, `${path}.events[${i}]`, { enrollment: uid, program, trackedEntity }, newUid)
  );
  children(w, en, "relationships", path).forEach((r, i) =>
    relationship(w, r, `${path}.relationships[${i}]`, newUid)
  );
}

function event(
  w: Walk,
  ev: unknown,
  path: string,
  parent: { enrollment: string; program: string | null; trackedEntity: string | null } | null,
  newUid: () => string,
): void {
  if (!isObj(ev)) return problem(w, path, "must be an object");
  const { uid, generated } = ownUid(w, ev, "event", "EVENT", path, newUid);
  const program = uidField(w, ev, "program", path, false);
  const en = uidField(w, ev, "enrollment", path, false);
  // An event program's single stage may be left out (DHIS2 fills it); a tracker program's not.
  const stageRequired = parent !== null || en !== null || ev.program == null;
  uidField(w, ev, "programStage", path, stageRequired);
  uidField(w, ev, "orgUnit", path, true);
  if (parent && en && en !== parent.enrollment) {
    problem(w, `${path}.enrollment`, `differs from the enclosing enrollment ${parent.enrollment}`);
  }
  const te = uidField(w, ev, "trackedEntity", path, false);
  uidField(w, ev, "attributeOptionCombo", path, false);
  const status = statusField(w, ev, path, EVENT_STATUSES) ?? "ACTIVE";
  const scheduled = status === "SCHEDULE" || status === "OVERDUE" || status === "SKIPPED";
  dateField(w, ev, "occurredAt", path, !scheduled);
  dateField(w, ev, "scheduledAt", path, status === "SCHEDULE");
  dateField(w, ev, "completedAt", path, false);
  geometryField(w, ev, path);
  values(w, ev, "dataValues", "dataElement", path);
  const enrollment = parent?.enrollment ?? en;
  const flat: Obj = { ...without(ev, "relationships"), event: uid };
  if (enrollment) flat.enrollment = enrollment;
  if (!program && parent?.program) flat.program = parent.program;
  w.flat.events.push(flat);
  w.objects[2].push({
    type: "EVENT",
    uid,
    path,
    generated,
    trackedEntity: parent?.trackedEntity ?? te,
    enrollment,
  });
  children(w, ev, "relationships", path).forEach((r, i) =>
    relationship(w, r, `${path}.relationships[${i}]`, newUid)
  );
}

const ITEM_KEYS = ["trackedEntity", "enrollment", "event"];

function relationship(w: Walk, r: unknown, path: string, newUid: () => string): void {
  if (!isObj(r)) return problem(w, path, "must be an object");
  const { uid, generated } = ownUid(w, r, "relationship", "RELATIONSHIP", path, newUid);
  uidField(w, r, "relationshipType", path, true);
  for (const side of ["from", "to"]) {
    const item = r[side];
    if (!isObj(item)) {
      problem(
        w,
        `${path}.${side}`,
        "required: an object naming a trackedEntity, enrollment or event",
      );
      continue;
    }
    const keys = ITEM_KEYS.filter((k) => item[k] !== undefined);
    if (keys.length !== 1) {
      problem(w, `${path}.${side}`, "must name exactly one of trackedEntity, enrollment, event");
      continue;
    }
    // 2.38–2.40 take {trackedEntity: "uid"}, 2.41+ {trackedEntity: {trackedEntity: "uid"}}.
    const v = item[keys[0]];
    const id = isObj(v) ? v[keys[0]] : v;
    if (!isUid(id)) problem(w, `${path}.${side}.${keys[0]}`, "not a DHIS2 UID");
  }
  w.flat.relationships.push({ ...r, relationship: uid });
  w.objects[3].push({
    type: "RELATIONSHIP",
    uid,
    path,
    generated,
    trackedEntity: null,
    enrollment: null,
  });
}

/** The stored bundle's objects in flat order, with the paths kept alongside (`codes`). */
export function objectsOf(bundle: FlatBundle, paths: readonly string[]): TrackerObject[] {
  const out: TrackerObject[] = [];
  for (const [key, type, uidKey] of COLLECTIONS) {
    for (const o of bundle[key] ?? []) {
      const en = typeof o.enrollment === "string" ? o.enrollment : null;
      out.push({
        type,
        uid: String(o[uidKey]),
        path: paths[out.length] ?? "",
        generated: false,
        trackedEntity: type === "TRACKED_ENTITY"
          ? String(o.trackedEntity)
          : typeof o.trackedEntity === "string"
          ? o.trackedEntity
          : null,
        enrollment: type === "ENROLLMENT" ? String(o.enrollment) : en,
      });
    }
  }
  return out;
}

/** sha256 of the request with keys sorted: the same body in any key order is one request. */
export function bundleHash(kind: string, body: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : isObj(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]))
      : v;
  return createHash("sha256").update(JSON.stringify([kind, canonical(body)]), "utf8").digest(
    "hex",
  );
}
