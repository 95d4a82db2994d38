/**
 * Validates a POST /api/v3/aggregate body (parsed with raw_json.ts) before anything is stored.
 * Every problem is collected and reported at once, each naming its field.
 */
import { createHash } from "node:crypto";
import { checkPeriod } from "../dhis2/periods.ts";
import { isUid } from "../dhis2/uid.ts";
import type { FieldProblem } from "../http/errors.ts";
import { isRawNumber, MAX_NUMBER_LENGTH, plainNumberText } from "../submissions/raw_json.ts";

/** A data value as it will be sent: its text, and what JSON type it arrived as. */
export interface SubmittedValue {
  code: string;
  value: string;
  kind: "number" | "boolean" | "string";
}

export interface AggregateRequest {
  /** A DHIS2 UID, or a code to resolve through the caller's `ou` mappings. */
  orgUnit: string;
  orgUnitName?: string;
  period: string;
  /** Absent: api.dhis2_data_set applies. */
  dataSet?: string;
  values: SubmittedValue[];
  attributeOptionCombo?: string;
  complete?: boolean;
  idempotencyKey?: string;
}

const CODE_MAX = 255;
// DHIS2's own cap on a text value (ValidationUtils.dataValueIsValid: VALUE_MAX_LENGTH 50000).
const TEXT_MAX = 50_000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !isRawNumber(v);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (isRawNumber(v)) return "a number";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/**
 * Checks the shape and formats; returns the request or the list of problems. `headerKey` is
 * the Idempotency-Key header, which must agree with a body `idempotencyKey` when both are sent.
 */
export function validateAggregate(
  body: unknown,
  headerKey: string | undefined,
  /** False when api.dhis2_data_set gives a default. */
  dataSetRequired = false,
  /** The target DHIS2's version: its period rules apply; null accepts any version's. */
  dhis2Version: string | null = null,
):
  | { request: AggregateRequest; problems: [] }
  | {
    request?: undefined;
    problems: FieldProblem[];
    /** The values that did parse, so their mapping can be checked in the same reply. */
    values?: SubmittedValue[];
  } {
  const problems: FieldProblem[] = [];
  const add = (field: string, message: string, extra: Record<string, unknown> = {}) =>
    problems.push({ field, message, ...extra });
  if (!isObject(body)) {
    add("(body)", `must be a JSON object, got ${describe(body)}`);
    return { problems };
  }
  const str = (field: string, required: boolean): string | undefined => {
    const v = body[field];
    if (v === undefined || (v === null && !required)) {
      if (required) add(field, "is required");
      return undefined;
    }
    if (typeof v !== "string") {
      add(field, `must be a string, got ${describe(v)}`);
      return undefined;
    }
    return v;
  };

  const orgUnit = str("orgUnit", true);
  if (orgUnit !== undefined && (orgUnit.trim() === "" || orgUnit.length > CODE_MAX)) {
    add("orgUnit", "must be a DHIS2 UID or an org unit code of 1 to 255 characters");
  }
  const orgUnitName = str("orgUnitName", false);
  const period = str("period", true);
  const periodCheck = period === undefined ? null : checkPeriod(period, { version: dhis2Version });
  if (period !== undefined && periodCheck && !periodCheck.ok) {
    add("period", `"${period.slice(0, 40)}" ${periodCheck.reason}`);
  }
  const dataSet = str("dataSet", false);
  if (dataSet !== undefined && !isUid(dataSet)) add("dataSet", "must be a DHIS2 UID");
  if (dataSet === undefined && dataSetRequired && (body.dataSet ?? null) === null) {
    add("dataSet", "is required (no api.dhis2_data_set default)");
  }
  const aoc = str("attributeOptionCombo", false);
  if (aoc !== undefined && !isUid(aoc)) add("attributeOptionCombo", "must be a DHIS2 UID");

  let complete: boolean | undefined;
  if (body.complete !== undefined && body.complete !== null) {
    if (typeof body.complete !== "boolean") {
      add("complete", `must be true or false, got ${describe(body.complete)}`);
    } else complete = body.complete;
  }

  const bodyKey = str("idempotencyKey", false);
  const idempotencyKey = headerKey ?? bodyKey;
  if (headerKey !== undefined && bodyKey !== undefined && headerKey !== bodyKey) {
    add("idempotencyKey", "differs from the Idempotency-Key header");
  } else if (idempotencyKey !== undefined && !KEY_PATTERN.test(idempotencyKey)) {
    add(
      headerKey !== undefined ? "Idempotency-Key" : "idempotencyKey",
      "must be 1 to 255 visible ASCII characters",
    );
  }

  const values: SubmittedValue[] = [];
  const dv = body.dataValues;
  if (dv === undefined) add("dataValues", "is required");
  else if (!isObject(dv)) {
    add("dataValues", `must be an object of code: value, got ${describe(dv)}`);
  } else if (Object.keys(dv).length === 0) add("dataValues", "must hold at least one value");
  else {
    for (const [code, raw] of Object.entries(dv)) {
      const field = `dataValues.${code}`;
      if (code.trim() === "" || code.length > CODE_MAX) {
        add(field, "codes must be 1 to 255 characters", { code });
        continue;
      }
      const v = toValue(raw);
      if ("problem" in v) add(field, v.problem, { code });
      else values.push({ code, ...v });
    }
  }

  if (problems.length) return { problems, values };
  const request: AggregateRequest = { orgUnit: orgUnit!, period: period!, values };
  if (orgUnitName !== undefined) request.orgUnitName = orgUnitName;
  if (dataSet !== undefined) request.dataSet = dataSet;
  if (aoc !== undefined) request.attributeOptionCombo = aoc;
  if (complete !== undefined) request.complete = complete;
  if (idempotencyKey !== undefined) request.idempotencyKey = idempotencyKey;
  return { request, problems: [] };
}

function toValue(
  raw: unknown,
): { value: string; kind: SubmittedValue["kind"] } | { problem: string } {
  if (isRawNumber(raw)) {
    const text = plainNumberText(raw.rawJSON);
    return text === null
      ? { problem: `the number is too large or small to write in ${MAX_NUMBER_LENGTH} digits` }
      : { value: text, kind: "number" };
  }
  if (typeof raw === "boolean") return { value: raw ? "true" : "false", kind: "boolean" };
  if (typeof raw === "string") {
    // DHIS2 reads "" as "no value": an empty string could blank a stored value (§10.1-7).
    if (raw.trim() === "") return { problem: "is empty; send a value or leave the code out" };
    if (raw.length > TEXT_MAX) return { problem: `is longer than ${TEXT_MAX} characters` };
    return { value: raw, kind: "string" };
  }
  return {
    problem: `must be a number, a boolean or a string, got ${describe(raw)}`,
  };
}

/**
 * A fingerprint of what the client asked for, independent of key order and whitespace, for
 * idempotency: the same key with another fingerprint is a 409.
 */
export function requestHash(r: AggregateRequest): string {
  const canonical = JSON.stringify([
    r.orgUnit,
    r.orgUnitName ?? null,
    r.period,
    r.dataSet ?? null,
    r.attributeOptionCombo ?? null,
    r.complete ?? null,
    [...r.values].sort((a, b) => a.code < b.code ? -1 : a.code > b.code ? 1 : 0)
      .map((v) => [v.code, v.kind, v.value]),
  ]);
  // node:crypto's synchronous hash: crypto.subtle.digest took 10% of the submission route's
  // CPU (an async op per call for a few hundred bytes).
  return createHash("sha256").update(canonical, "utf8").digest("hex");
}
