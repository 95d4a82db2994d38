/**
 * The simulator's tracker validation: what DHIS2's tracker importer refuses, with dhis2-core's
 * ValidationCode codes and message patterns (reference §4.4; the enum in
 * dhis-service-tracker's tracker/imports/validation/ValidationCode.java).
 */
import { checkValueType } from "./simulator_value_types.ts";
import type { SimTrackerMetadata } from "./simulator_tracker_metadata.ts";

export type Obj = Record<string, unknown>;

export interface TrackerError {
  errorCode: string;
  message: string;
  trackerType: "TRACKED_ENTITY" | "ENROLLMENT" | "EVENT" | "RELATIONSHIP";
  uid: string;
}

export interface TrackerStore {
  trackedEntities: Map<string, Obj>;
  enrollments: Map<string, Obj>;
  events: Map<string, Obj>;
  relationships: Map<string, Obj>;
}

export function newTrackerStore(): TrackerStore {
  return {
    trackedEntities: new Map(),
    enrollments: new Map(),
    events: new Map(),
    relationships: new Map(),
  };
}

const s = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);

interface Ctx {
  md: SimTrackerMetadata;
  orgUnits: Set<string>;
  store: TrackerStore;
  bundleTes: Set<string>;
  bundleEnrollments: Map<string, Obj>;
  /** The importing user may change a COMPLETED event (ALL or F_UNCOMPLETE_EVENT). */
  canUncomplete: boolean;
  username: string;
}

function values(
  ctx: Ctx,
  list: unknown,
  key: "attribute" | "dataElement",
  push: (code: string, message: string) => void,
  allowed?: string[],
): void {
  if (!Array.isArray(list)) return;
  for (const v of list as Obj[]) {
    const id = String(v?.[key] ?? "");
    const meta = key === "attribute"
      ? ctx.md.attributes.find((a) => a.id === id)
      : ctx.md.dataElements.find((d) => d.id === id);
    if (!meta) {
      push(
        key === "attribute" ? "E1006" : "E1304",
        key === "attribute"
          ? `Attribute: \`${id}\`, does not exist.`
          : `DataElement \`${id}\` is not a valid data element`,
      );
      continue;
    }
    if (allowed && !allowed.includes(id)) {
      if (key === "dataElement") {
        push("E1305", `DataElement \`${id}\` is not part of \`${allowed}\` program stage`);
      }
      continue;
    }
    if (v.value === null || v.value === undefined) continue;
    const value = String(v.value);
    if (meta.options && !meta.options.includes(value)) {
      push("E1125", `Value \`${value}\` is not a valid option code in option set \`${id}\``);
      continue;
    }
    const bad = checkValueType(meta.valueType, value);
    if (bad) {
      push(
        key === "attribute" ? "E1085" : "E1302",
        key === "attribute"
          ? `Attribute: \`${id}\`, value does not match value type: \`${meta.valueType}\`.`
          : `DataElement \`${id}\` is not valid: \`${bad.text}\``,
      );
    }
  }
}

export function validateTrackedEntity(ctx: Ctx, te: Obj): TrackerError[] {
  const uid = String(te.trackedEntity);
  const out: TrackerError[] = [];
  const push = (errorCode: string, message: string) =>
    out.push({ errorCode, message, trackerType: "TRACKED_ENTITY", uid });
  for (const f of ["trackedEntityType", "orgUnit"]) {
    if (!s(te[f])) push("E1121", `Missing required trackedEntity property: \`${f}\`.`);
  }
  if (
    s(te.trackedEntityType) && !ctx.md.trackedEntityTypes.some((t) => t.id === te.trackedEntityType)
  ) {
    push("E1005", `Could not find TrackedEntityType: \`${te.trackedEntityType}\`.`);
  }
  if (s(te.orgUnit) && !ctx.orgUnits.has(String(te.orgUnit))) {
    push("E1049", `Could not find OrganisationUnit: \`${te.orgUnit}\`, linked to Tracked Entity.`);
  }
  values(ctx, te.attributes, "attribute", push);
  return out;
}

export function validateEnrollment(ctx: Ctx, en: Obj): TrackerError[] {
  const uid = String(en.enrollment);
  const out: TrackerError[] = [];
  const push = (errorCode: string, message: string) =>
    out.push({ errorCode, message, trackerType: "ENROLLMENT", uid });
  for (const f of ["program", "orgUnit", "trackedEntity"]) {
    if (!s(en[f])) push("E1122", `Missing required enrollment property: \`${f}\`.`);
  }
  if (!s(en.enrolledAt)) {
    push("E1025", `Property enrolledAt is null or has an invalid format: \`null\`.`);
  }
  const program = ctx.md.programs.find((p) => p.id === en.program);
  if (s(en.program) && !program) {
    push("E1069", `Could not find Program: \`${en.program}\`, linked to Enrollment.`);
  }
  if (program && !program.registration) {
    push(
      "E1014",
      `Provided Program: \`${program.id}\`, is a Program without registration. ` +
        "An Enrollment cannot be created into Program without registration.",
    );
  }
  if (s(en.orgUnit) && !ctx.orgUnits.has(String(en.orgUnit))) {
    push("E1070", `Could not find OrganisationUnit: \`${en.orgUnit}\`, linked to Enrollment.`);
  }
  const te = s(en.trackedEntity);
  if (te && !ctx.bundleTes.has(te) && !ctx.store.trackedEntities.has(te)) {
    push("E1068", `Could not find TrackedEntityInstance: \`${te}\`, linked to Enrollment.`);
  }
  values(ctx, en.attributes, "attribute", push);
  return out;
}

export function validateEvent(ctx: Ctx, ev: Obj): TrackerError[] {
  const uid = String(ev.event);
  const out: TrackerError[] = [];
  const push = (errorCode: string, message: string) =>
    out.push({ errorCode, message, trackerType: "EVENT", uid });
  const stage = ctx.md.programStages.find((p) => p.id === ev.programStage);
  const programId = s(ev.program) ?? stage?.program ?? null;
  const program = ctx.md.programs.find((p) => p.id === programId);
  if (!s(ev.orgUnit)) push("E1123", "Missing required event property: `orgUnit`.");
  if (!s(ev.programStage) && !(program && !program.registration)) {
    push("E1123", "Missing required event property: `programStage`.");
  }
  if (programId && !program) {
    push("E1010", `Could not find Program: \`${programId}\`, linked to Event.`);
  }
  if (s(ev.programStage) && !stage) {
    push("E1013", `Could not find ProgramStage: \`${ev.programStage}\`, linked to Event.`);
  }
  if (stage && program && stage.program !== program.id) {
    push(
      "E1089",
      `Event: \`${uid}\`, references a Program Stage \`${stage.id}\` that does not belong to Program \`${program.id}\`.`,
    );
  }
  if (s(ev.orgUnit) && !ctx.orgUnits.has(String(ev.orgUnit))) {
    push("E1011", `Could not find OrganisationUnit: \`${ev.orgUnit}\`, linked to Event.`);
  }
  const status = s(ev.status) ?? "ACTIVE";
  if ((status === "ACTIVE" || status === "COMPLETED") && !s(ev.occurredAt)) {
    push("E1031", "Event OccurredAt date is missing.");
  }
  if (status === "SCHEDULE" && !s(ev.scheduledAt)) {
    push("E1050", "Event ScheduledAt date is missing.");
  }
  if (program?.registration) {
    const en = s(ev.enrollment);
    if (!en) push("E1033", `Event: \`${uid}\`, Enrollment value is null.`);
    else if (!ctx.bundleEnrollments.has(en) && !ctx.store.enrollments.has(en)) {
      push("E1081", `Enrollment: \`${en}\`, do not exist.`);
    }
  }
  const existing = ctx.store.events.get(uid);
  if (existing && existing.status === "COMPLETED" && !ctx.canUncomplete) {
    push("E1083", `User: \`${ctx.username}\`, is not authorized to modify completed events.`);
  }
  values(ctx, ev.dataValues, "dataElement", push, stage?.dataElements);
  return out;
}

export function validateRelationship(ctx: Ctx, r: Obj): TrackerError[] {
  const uid = String(r.relationship);
  const out: TrackerError[] = [];
  const push = (errorCode: string, message: string) =>
    out.push({ errorCode, message, trackerType: "RELATIONSHIP", uid });
  if (!s(r.relationshipType)) {
    push("E1124", "Missing required relationship property: `relationshipType`.");
  } else if (!ctx.md.relationshipTypes.some((t) => t.id === r.relationshipType)) {
    push("E4006", `Could not find relationship type: \`${r.relationshipType}\`.`);
  }
  for (const side of ["from", "to"]) {
    const item = (r[side] ?? {}) as Obj;
    const te = item.trackedEntity;
    const id = typeof te === "object" && te ? (te as Obj).trackedEntity : te;
    if (typeof id === "string" && !ctx.bundleTes.has(id) && !ctx.store.trackedEntities.has(id)) {
      push("E4012", `Could not find \`trackedEntity\`: \`${id}\`, linked to relationship.`);
    }
  }
  return out;
}

export type { Ctx as ValidationContext };
