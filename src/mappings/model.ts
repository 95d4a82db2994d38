/**
 * A mapping turns a source system's code into DHIS2 UIDs. The JSON field names are the old Go
 * service's (models/dhis2_mappings.go) and are part of the API contract; spreadsheet headers and
 * database columns are listed beside each field in MAPPING_COLUMNS so the three names of one value
 * live in one place.
 */
import { z } from "zod";
import { isUid } from "../dhis2/uid.ts";

/** `de`: a data element mapping (code → data element/COC/AOC); `ou`: an org unit mapping. */
export type What = "de" | "ou";

export interface MappingInput {
  code: string;
  what: What;
  name: string;
  description: string;
  dataSet: string;
  dataElement: string;
  categoryOptionCombo: string;
  attributeOptionCombo: string;
  categoryOption: string;
  categoryCombo: string;
  instanceName: string;
  sourceName: string;
  sourceOrgUnit: string;
  destinationOrgUnit: string;
}

/** A stored mapping as the API returns it; timestamps are ISO 8601 strings. */
export interface Mapping extends MappingInput {
  uid: string;
  created: string;
  updated: string;
}

export type MappingField = keyof MappingInput;

export interface MappingColumn {
  /** Canonical spreadsheet header, as written by the exporter and the template. */
  header: string;
  field: MappingField;
  /** Column of the mappings table. */
  db: string;
  /** Other spreadsheet headers accepted on import. */
  aliases?: readonly string[];
  /** Must hold a DHIS2 UID when non-empty. */
  uid?: boolean;
}

/** In export order (the old service's order, with attribute_option_combo added after the COC). */
export const MAPPING_COLUMNS: readonly MappingColumn[] = [
  { header: "code", field: "code", db: "code" },
  { header: "what", field: "what", db: "what" },
  { header: "name", field: "name", db: "name" },
  { header: "description", field: "description", db: "description" },
  { header: "dataset", field: "dataSet", db: "dataset", uid: true },
  { header: "dataelement", field: "dataElement", db: "dataelement", uid: true },
  {
    header: "category_option_combo",
    field: "categoryOptionCombo",
    db: "category_option_combo",
    uid: true,
  },
  {
    header: "attribute_option_combo",
    field: "attributeOptionCombo",
    db: "attribute_option_combo",
    uid: true,
  },
  { header: "category_option", field: "categoryOption", db: "category_option", uid: true },
  { header: "category_combo", field: "categoryCombo", db: "category_combo", uid: true },
  { header: "instance_name", field: "instanceName", db: "instance_name" },
  { header: "source_name", field: "sourceName", db: "source_name" },
  { header: "source_orgunit", field: "sourceOrgUnit", db: "source_orgunit" },
  {
    header: "destination_orgunit",
    field: "destinationOrgUnit",
    db: "dest_orgunit",
    aliases: ["dest_orgunit"],
    uid: true,
  },
];

export const COLUMN_BY_FIELD: ReadonlyMap<MappingField, MappingColumn> = new Map(
  MAPPING_COLUMNS.map((c) => [c.field, c]),
);

/**
 * The old importer left missing names empty, which made imported rows invisible to
 * POST /aggregate (it looks up "default"); so empty means "default" here, everywhere.
 */
export const DEFAULT_NAME = "default";

const UID_MESSAGE = "must be a DHIS2 UID (11 characters: a letter, then 10 letters or digits)";

// Every text field accepts a string, null or nothing and comes out trimmed; null and missing
// become "" so the database never has to tell NULL from empty (the old COC column did).
const text = z.string().nullish().transform((v) => (v ?? "").trim());

const rawMappingSchema = z.object({
  code: text,
  what: text,
  name: text,
  description: text,
  dataSet: text,
  dataElement: text,
  categoryOptionCombo: text,
  attributeOptionCombo: text,
  categoryOption: text,
  categoryCombo: text,
  instanceName: text,
  sourceName: text,
  sourceOrgUnit: text,
  destinationOrgUnit: text,
});

type RawMapping = z.output<typeof rawMappingSchema>;

/**
 * Defaults, before the checks: an empty `what` means `de` (every mapping the old aggregate path
 * used was a data element mapping, and its import wrote '' there), `what` is case-insensitive,
 * and empty instance/source names mean "default". For `ou` rows, `code` and `source_orgunit` fill
 * each other: the org unit look-up goes by source_orgunit, while the unique key goes by code, so
 * both must be set for two org unit rows not to collide on an empty code.
 */
export function applyDefaults(raw: RawMapping): RawMapping {
  const m = { ...raw };
  m.what = m.what === "" ? "de" : m.what.toLowerCase();
  if (m.instanceName === "") m.instanceName = DEFAULT_NAME;
  if (m.sourceName === "") m.sourceName = DEFAULT_NAME;
  if (m.what === "ou") {
    if (m.code === "") m.code = m.sourceOrgUnit;
    if (m.sourceOrgUnit === "") m.sourceOrgUnit = m.code;
  }
  return m;
}

export interface FieldIssue {
  field: MappingField;
  message: string;
}

/**
 * The checks of one mapping after defaults, shared by the JSON schema and the file importer so
 * both say the same thing. Required fields: `de` needs code, dataElement and name (name is NOT
 * NULL in the table and is what people search by); `ou` needs code or sourceOrgUnit (see
 * applyDefaults) and destinationOrgUnit. COC/AOC stay optional: empty means DHIS2's default.
 */
export function mappingIssues(m: RawMapping): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const required = (field: MappingField, why: string) => {
    if (m[field] === "") issues.push({ field, message: `is required ${why}` });
  };
  if (m.what === "de") {
    required("code", "for a data element mapping (what=de)");
    required("dataElement", "for a data element mapping (what=de)");
    required("name", "for a data element mapping (what=de)");
  } else if (m.what === "ou") {
    if (m.code === "") {
      issues.push({
        field: "code",
        message: "is required for an org unit mapping (what=ou), unless the source org unit is set",
      });
    }
    required("destinationOrgUnit", "for an org unit mapping (what=ou)");
  } else {
    issues.push({ field: "what", message: `must be "de" or "ou", got "${m.what}"` });
  }
  for (const col of MAPPING_COLUMNS) {
    if (col.uid && m[col.field] !== "" && !isUid(m[col.field])) {
      issues.push({ field: col.field, message: UID_MESSAGE });
    } else if (m[col.field].includes("\u0000")) {
      // PostgreSQL text cannot hold NUL: without this the insert fails with a 500.
      issues.push({ field: col.field, message: "contains a NUL character (byte 0x00)" });
    } else if (!m[col.field].isWellFormed()) {
      // An .xls stores text as UTF-16, so a cell can hold half a pair; PostgreSQL would
      // silently store U+FFFD in its place.
      issues.push({ field: col.field, message: "contains a lone UTF-16 surrogate" });
    }
  }
  return issues;
}

/**
 * The body of POST/PUT /mappings. Unknown keys (uid, created, updated) are dropped; every problem
 * is reported at once with the field name as its path.
 */
export const mappingInputSchema = rawMappingSchema
  .transform(applyDefaults)
  .superRefine((m, ctx) => {
    for (const issue of mappingIssues(m)) {
      ctx.addIssue({ code: "custom", path: [issue.field], message: issue.message });
    }
  })
  .transform((m) => m as MappingInput);

/** Normalise a record of raw cell texts (missing fields are empty) without checking it. */
export function normaliseFields(fields: Partial<Record<MappingField, string>>): RawMapping {
  const raw = {} as RawMapping;
  for (const col of MAPPING_COLUMNS) raw[col.field] = (fields[col.field] ?? "").trim();
  return applyDefaults(raw);
}

/** The table's unique key `(code, source_name, instance_name, what)` as one comparable string. */
export function mappingKey(
  m: Pick<MappingInput, "code" | "sourceName" | "instanceName"> & { what: string },
): string {
  return JSON.stringify([m.code, m.sourceName, m.instanceName, m.what]);
}
