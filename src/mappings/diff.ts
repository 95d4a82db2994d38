/**
 * What an import would change, decided in memory from the file's valid rows and the stored rows
 * they touch: pure, so every rule is unit-tested without a database.
 *
 * Rules: a row is matched to a stored one by the table's key (code, source_name, instance_name,
 * what). Columns the file does not have keep their stored values (a file with only code, name
 * and dataelement does not blank every description); columns it has overwrite, empty cells
 * included. A matched row whose result equals the stored one is "unchanged" and not written. In
 * replace mode, stored rows of a (source_name, instance_name) scope the file has rows for, and
 * whose key the file lacks, are deleted. One source org unit maps to one org unit per scope
 * (dhis2_mappings_ou_key): a file that would break that gets a problem, not a database error.
 */
import { generateUid } from "../dhis2/uid.ts";
import type { Problem } from "./formats.ts";
import { MAPPING_COLUMNS, type MappingField, type MappingInput } from "./model.ts";
import type { Scope } from "./queries.ts";

export type ImportMode = "upsert" | "replace";

export interface FileRow {
  row: number;
  mapping: MappingInput;
  /** The columns the file has. */
  present: ReadonlySet<MappingField>;
}

export interface StoredRow {
  uid: string;
  mapping: MappingInput;
}

export interface Plan {
  /** New rows with fresh uids, and changed rows with their stored uids, in file order. */
  writes: { row: number; uid: string; mapping: MappingInput; created: boolean }[];
  created: number;
  updated: number;
  unchanged: number;
  /** Uids of stored rows to delete (replace mode). */
  deletes: string[];
  problems: Problem[];
}

const KEY_FIELDS: ReadonlySet<MappingField> = new Set([
  "code",
  "what",
  "sourceName",
  "instanceName",
]);

export function scopesOf(rows: readonly { mapping: MappingInput }[]): Scope[] {
  const seen = new Map<string, Scope>();
  for (const { mapping: m } of rows) {
    const k = JSON.stringify([m.sourceName, m.instanceName]);
    if (!seen.has(k)) seen.set(k, { source: m.sourceName, instance: m.instanceName });
  }
  return [...seen.values()];
}

function merge(stored: MappingInput, file: FileRow): MappingInput {
  const out = { ...stored };
  for (const col of MAPPING_COLUMNS) {
    if (KEY_FIELDS.has(col.field) || file.present.has(col.field)) {
      (out as Record<MappingField, string>)[col.field] = file.mapping[col.field];
    }
  }
  return out;
}

function same(a: MappingInput, b: MappingInput): boolean {
  return MAPPING_COLUMNS.every((c) => a[c.field] === b[c.field]);
}

/**
 * Map keys joined with NUL, which no stored value can contain (PostgreSQL text cannot, and
 * mappingIssues refuses it in files): the same identity as model.ts's mappingKey, built in a
 * fraction of JSON.stringify's time, which counts at 100,000 rows on each side.
 */
const keyOf = (m: MappingInput) =>
  m.code + "\u0000" + m.sourceName + "\u0000" + m.instanceName + "\u0000" + m.what;
const scopeOf = (m: MappingInput) => m.sourceName + "\u0000" + m.instanceName;
const ouSlot = (m: MappingInput) => scopeOf(m) + "\u0000" + m.sourceOrgUnit;

export function planImport(
  rows: readonly FileRow[],
  stored: readonly StoredRow[],
  mode: ImportMode,
): Plan {
  const storedKeys = stored.map((s) => keyOf(s.mapping));
  const storedByKey = new Map(stored.map((s, i) => [storedKeys[i], s]));
  const fileKeys = new Set(rows.map((r) => keyOf(r.mapping)));
  const plan: Plan = {
    writes: [],
    created: 0,
    updated: 0,
    unchanged: 0,
    deletes: [],
    problems: [],
  };

  if (mode === "replace") {
    const scopes = new Set(rows.map((r) => scopeOf(r.mapping)));
    stored.forEach((s, i) => {
      if (scopes.has(scopeOf(s.mapping)) && !fileKeys.has(storedKeys[i])) plan.deletes.push(s.uid);
    });
  }
  const deleted = new Set(plan.deletes);

  // Who holds each source org unit once the import is done: the stored rows it leaves alone,
  // then the file's rows.
  const ouHolder = new Map<string, { row?: number; mapping: MappingInput; uid?: string }>();
  stored.forEach((s, i) => {
    if (s.mapping.what !== "ou" || deleted.has(s.uid) || fileKeys.has(storedKeys[i])) return;
    ouHolder.set(ouSlot(s.mapping), { mapping: s.mapping, uid: s.uid });
  });

  for (const r of rows) {
    const existing = storedByKey.get(keyOf(r.mapping));
    const mapping = existing ? merge(existing.mapping, r) : r.mapping;
    if (mapping.what === "ou") {
      const slot = ouSlot(mapping);
      const holder = ouHolder.get(slot);
      if (holder) {
        plan.problems.push({
          row: r.row,
          column: "source_orgunit",
          value: mapping.sourceOrgUnit,
          message: `source org unit "${mapping.sourceOrgUnit}" is already mapped by ` +
            (holder.row !== undefined
              ? `row ${holder.row}`
              : `stored mapping ${holder.uid} (code "${holder.mapping.code}")`) +
            "; one source org unit can lead to one org unit only",
        });
        continue;
      }
      ouHolder.set(slot, { row: r.row, mapping });
    }
    if (!existing) {
      plan.writes.push({ row: r.row, uid: generateUid(), mapping, created: true });
      plan.created++;
    } else if (same(existing.mapping, mapping)) {
      plan.unchanged++;
    } else {
      plan.writes.push({ row: r.row, uid: existing.uid, mapping, created: false });
      plan.updated++;
    }
  }
  plan.problems.sort((a, b) => a.row - b.row);
  return plan;
}
