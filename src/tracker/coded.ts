/**
 * The coded forms third-party systems send (POST /api/v3/events, /api/v3/trackedEntities): the
 * source's own codes for program, stage, org unit, data elements, attributes and option values,
 * resolved through the tracker mappings (and the aggregate `ou` mappings) into a DHIS2 tracker
 * payload, which then goes through the same checks and storage as POST /api/v3/tracker. A code
 * with no mapping is a 422 naming it; a value that is already a DHIS2 UID is taken as it is.
 */
import { isUid } from "../dhis2/uid.ts";
import type { FieldProblem } from "../http/errors.ts";
import type { MappingLookup } from "../mappings/lookup.ts";
import type { Obj } from "./bundle.ts";
import type { TrackerMappingKind } from "./mappings.ts";
import { trackerMappingKey, type TrackerMappingLookup } from "./mapping_cache.ts";

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown) => typeof v === "string" && v.trim() !== "";
const EVENT_FIELDS = [
  "event",
  "trackedEntity",
  "enrollment",
  "status",
  "occurredAt",
  "scheduledAt",
  "completedAt",
  "geometry",
  "storedBy",
];

interface Want {
  kind: TrackerMappingKind;
  scope: string;
  code: string;
  field: string;
  set: (uid: string) => void;
}

/**
 * Look-ups in rounds: a stage is scoped by its program, a data element by its stage, an option
 * by its data element, so a `set` that learns a UID asks for what depends on it, and that is
 * looked up in the next round. A code that fails stops its dependants (one problem, not four).
 */
class Resolver {
  problems: FieldProblem[] = [];
  #round: Want[] = [];
  constructor(
    readonly tm: TrackerMappingLookup,
    readonly source: string,
    readonly ou: MappingLookup,
  ) {}

  want(
    kind: TrackerMappingKind,
    scope: string,
    code: unknown,
    field: string,
    set: (uid: string) => void,
  ): void {
    if (!text(code)) {
      this.problems.push({ field, message: "required" });
      return;
    }
    this.#round.push({ kind, scope, code: String(code), field, set });
  }

  async orgUnit(code: unknown, field: string, set: (u: string) => void): Promise<void> {
    if (!text(code)) return void this.problems.push({ field, message: "required" });
    const uid = await this.ou.resolveOrgUnit(this.source, String(code));
    if (uid) set(uid);
    else if (isUid(code)) set(String(code));
    else {
      this.problems.push({
        field,
        code: String(code),
        message: `no mapping for org unit code ${code}`,
      });
    }
  }

  async run(): Promise<void> {
    while (this.#round.length) {
      const round = this.#round;
      this.#round = [];
      const found = await this.tm.lookup(this.source, round);
      for (const w of round) {
        const uid = found.get(trackerMappingKey(w));
        if (uid) w.set(uid);
        else if (w.kind === "option") w.set(w.code); // no option mapping: DHIS2's own code
        else if (isUid(w.code)) w.set(w.code);
        else {
          this.problems.push({
            field: w.field,
            code: w.code,
            message: `no mapping for ${w.kind.replaceAll("_", " ")} code ${w.code}`,
          });
        }
      }
    }
  }
}

/** `{code: value}` → `[{<key>: uid, value}]` once `scope` is known; option values mapped too. */
function codedValues(
  r: Resolver,
  input: unknown,
  path: string,
  kind: "data_element" | "attribute",
): { out: Obj[]; resolveIn: (scope: string) => void } {
  const out: Obj[] = [];
  const key = kind === "data_element" ? "dataElement" : "attribute";
  if (input === undefined) return { out, resolveIn: () => {} };
  if (!isObj(input)) {
    r.problems.push({ field: path, message: "must be an object of code: value" });
    return { out, resolveIn: () => {} };
  }
  const entries = Object.entries(input).filter(([code, value]) => {
    const ok = value === null || ["string", "number", "boolean"].includes(typeof value);
    if (!ok) {
      r.problems.push({
        field: `${path}.${code}`,
        message: "must be a string, number, boolean or null",
      });
    }
    return ok;
  });
  return {
    out,
    resolveIn: (scope) => {
      for (const [code, value] of entries) {
        const item: Obj = { value: value === null ? null : String(value) };
        out.push(item);
        r.want(kind, scope, code, `${path}.${code}`, (uid) => {
          item[key] = uid;
          if (typeof item.value === "string") {
            r.want("option", uid, item.value, `${path}.${code}`, (o) => item.value = o);
          }
        });
      }
    },
  };
}

/**
 * One coded event → a DHIS2 event. Its own `program` code is looked up, unless it sits in an
 * enrollment (`inherited`): then the caller calls `withProgram` once the enrollment's program
 * is known.
 */
async function codedEvent(
  r: Resolver,
  e: unknown,
  p: string,
  inherited: { orgUnit: unknown } | null,
): Promise<{ ev: Obj; withProgram: (program: string) => void } | null> {
  if (!isObj(e)) {
    r.problems.push({ field: p, message: "must be an object" });
    return null;
  }
  const ev: Obj = {};
  for (const k of EVENT_FIELDS) if (e[k] !== undefined) ev[k] = e[k];
  const values = codedValues(r, e.dataValues, `${p}.dataValues`, "data_element");
  ev.dataValues = values.out;
  const withProgram = (program: string) => {
    r.want("stage", program, e.programStage, `${p}.programStage`, (stage) => {
      ev.programStage = stage;
      values.resolveIn(stage);
    });
  };
  if (!inherited) {
    r.want("program", "", e.program, `${p}.program`, (program) => {
      ev.program = program;
      withProgram(program);
    });
  }
  await r.orgUnit(e.orgUnit ?? inherited?.orgUnit, `${p}.orgUnit`, (u) => ev.orgUnit = u);
  return { ev, withProgram };
}

export interface CodedResult {
  /** The DHIS2 tracker payload built from the coded request. */
  raw: Obj;
  /** Built path prefix → the caller's path: per-object results name the caller's fields. */
  paths: Array<[string, string]>;
}

type Built = { ok: true; result: CodedResult } | { ok: false; problems: FieldProblem[] };

/** POST /api/v3/events: one coded event or an array of them. */
export async function codedEvents(
  tm: TrackerMappingLookup,
  ou: MappingLookup,
  source: string,
  body: unknown,
): Promise<Built> {
  const r = new Resolver(tm, source, ou);
  const list = Array.isArray(body) ? body : [body];
  const at = (i: number) => Array.isArray(body) ? `$[${i}]` : "$";
  if (!list.length) return { ok: false, problems: [{ field: "$", message: "no events" }] };
  const events: Obj[] = [];
  for (const [i, e] of list.entries()) {
    const coded = await codedEvent(r, e, at(i), null);
    if (coded) events.push(coded.ev);
  }
  await r.run();
  if (r.problems.length) return { ok: false, problems: r.problems };
  return {
    ok: true,
    result: { raw: { events }, paths: list.map((_, i) => [`$.events[${i}]`, at(i)]) },
  };
}

/** POST /api/v3/trackedEntities: a person by codes, an optional enrollment and first events. */
export async function codedPerson(
  tm: TrackerMappingLookup,
  ou: MappingLookup,
  source: string,
  body: unknown,
): Promise<Built> {
  const r = new Resolver(tm, source, ou);
  if (!isObj(body)) return { ok: false, problems: [{ field: "$", message: "must be an object" }] };
  const te: Obj = {};
  for (const k of ["trackedEntity", "geometry"]) if (body[k] !== undefined) te[k] = body[k];
  r.want("tracked_entity_type", "", body.trackedEntityType, "$.trackedEntityType", (u) => {
    te.trackedEntityType = u;
  });
  await r.orgUnit(body.orgUnit, "$.orgUnit", (u) => te.orgUnit = u);
  const attrs = codedValues(r, body.attributes, "$.attributes", "attribute");
  te.attributes = attrs.out;
  const en = body.enrollment;
  const paths: Array<[string, string]> = [];
  if (en === undefined) attrs.resolveIn("");
  else if (!isObj(en)) r.problems.push({ field: "$.enrollment", message: "must be an object" });
  else {
    const enrollment: Obj = {};
    for (const k of ["enrollment", "enrolledAt", "occurredAt", "status", "completedAt"]) {
      if (en[k] !== undefined) enrollment[k] = en[k];
    }
    te.enrollments = [enrollment];
    const events: Obj[] = [];
    const waiting: Array<(program: string) => void> = [];
    // The attributes are the program's (DHIS2 sends program attributes with the person).
    r.want("program", "", en.program, "$.enrollment.program", (program) => {
      enrollment.program = program;
      attrs.resolveIn(program);
      for (const f of waiting) f(program);
    });
    await r.orgUnit(en.orgUnit ?? body.orgUnit, "$.enrollment.orgUnit", (u) => {
      enrollment.orgUnit = u;
    });
    const list = en.events === undefined ? [] : Array.isArray(en.events) ? en.events : null;
    if (!list) r.problems.push({ field: "$.enrollment.events", message: "must be an array" });
    for (const [i, e] of (list ?? []).entries()) {
      const coded = await codedEvent(r, e, `$.enrollment.events[${i}]`, {
        orgUnit: en.orgUnit ?? body.orgUnit,
      });
      if (coded) {
        events.push(coded.ev);
        waiting.push(coded.withProgram);
      }
      paths.push([`$.trackedEntities[0].enrollments[0].events[${i}]`, `$.enrollment.events[${i}]`]);
    }
    enrollment.events = events;
    paths.push(["$.trackedEntities[0].enrollments[0]", "$.enrollment"]);
  }
  paths.push(["$.trackedEntities[0]", "$"]);
  await r.run();
  if (r.problems.length) return { ok: false, problems: r.problems };
  return { ok: true, result: { raw: { trackedEntities: [te] }, paths } };
}

/** A path in the built payload as the caller's: `$.events[2].occurredAt` → `$[2].occurredAt`. */
export function callerPath(paths: Array<[string, string]>, built: string): string {
  for (const [from, to] of paths) {
    if (built === from || built.startsWith(`${from}.`) || built.startsWith(`${from}[`)) {
      return to + built.slice(from.length);
    }
  }
  return built;
}
