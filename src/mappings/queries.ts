/**
 * SQL for `dhis2_mappings` and `dhis2_mapping_version` (migration 0003), the mappings domain's
 * tables. Every function takes the connection first so callers can compose transactions.
 * Writers call lockForWrite first (see there); the version itself is moved by a trigger.
 */
import type { Db } from "../db/db.ts";
import { type Mapping, MAPPING_COLUMNS, type MappingField, type MappingInput } from "./model.ts";

/** A row as stored; text columns are '' for "none". */
export interface MappingRow {
  uid: string;
  code: string;
  what: string;
  name: string;
  description: string;
  dataset: string;
  dataelement: string;
  category_option_combo: string;
  attribute_option_combo: string;
  category_option: string;
  category_combo: string;
  instance_name: string;
  source_name: string;
  source_orgunit: string;
  dest_orgunit: string;
  created: Date;
  updated: Date;
}

/** Columns an insert writes (created/updated come from defaults). */
export const WRITE_COLUMNS = ["uid", ...MAPPING_COLUMNS.map((c) => c.db)] as const;

export function toMapping(row: MappingRow): Mapping {
  const out = { uid: row.uid } as Mapping;
  const r = row as unknown as Record<string, string>;
  for (const col of MAPPING_COLUMNS) {
    (out as unknown as Record<string, string>)[col.field] = r[col.db];
  }
  out.created = row.created.toISOString();
  out.updated = row.updated.toISOString();
  return out;
}

/** The stored fields of a row, by JSON name, for comparing with a file row. */
export function toInput(row: MappingRow | ComparedRow): MappingInput {
  const out = {} as Record<MappingField, string>;
  const r = row as unknown as Record<string, string>;
  for (const col of MAPPING_COLUMNS) out[col.field] = r[col.db];
  return out as unknown as MappingInput;
}

export function toWriteRow(uid: string, m: MappingInput): Record<string, string> {
  const out: Record<string, string> = { uid };
  for (const col of MAPPING_COLUMNS) out[col.db] = m[col.field];
  return out;
}

export interface MappingFilter {
  uid?: string;
  code?: string;
  what?: string;
  /** Case-insensitive substring. */
  name?: string;
  dataSet?: string;
  dataElement?: string;
  categoryOptionCombo?: string;
  attributeOptionCombo?: string;
  categoryOption?: string;
  categoryCombo?: string;
  source?: string;
  /** The same as `source`; `source` wins when both are given. */
  source_name?: string;
  instance_name?: string;
  source_orgunit?: string;
  destination_orgunit?: string;
}

/** `like` pattern for a literal substring: %, _ and \ in user text are not wildcards. */
function containing(text: string): string {
  return `%${text.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

/** The WHERE clause of a filter: one fragment per set filter, `true` keeping the AND chain valid. */
function whereOf(sql: Db, f: MappingFilter) {
  const eq = (column: string, value: string | undefined) =>
    value === undefined ? sql`` : sql`and ${sql(column)} = ${value}`;
  return sql`
    true
    ${eq("uid", f.uid)}
    ${eq("code", f.code)}
    ${eq("what", f.what)}
    ${f.name === undefined ? sql`` : sql`and name ilike ${containing(f.name)}`}
    ${eq("dataset", f.dataSet)}
    ${eq("dataelement", f.dataElement)}
    ${eq("category_option_combo", f.categoryOptionCombo)}
    ${eq("attribute_option_combo", f.attributeOptionCombo)}
    ${eq("category_option", f.categoryOption)}
    ${eq("category_combo", f.categoryCombo)}
    ${eq("source_name", f.source ?? f.source_name)}
    ${eq("instance_name", f.instance_name)}
    ${eq("source_orgunit", f.source_orgunit)}
    ${eq("dest_orgunit", f.destination_orgunit)}`;
}

export async function listMappings(
  sql: Db,
  f: MappingFilter,
  page: { limit: number; offset: number },
): Promise<{ rows: MappingRow[]; total: number }> {
  const where = whereOf(sql, f);
  const rows = await sql<MappingRow[]>`
    select * from dhis2_mappings where ${where}
    order by source_name, instance_name, what, code
    limit ${page.limit} offset ${page.offset}`;
  const [{ n }] = await sql<{ n: number }[]>`
    select count(*)::int as n from dhis2_mappings where ${where}`;
  return { rows, total: n };
}

/** Every mapping the filter matches, in export order. */
export function exportMappings(sql: Db, f: MappingFilter): Promise<MappingRow[]> {
  return sql<MappingRow[]>`
    select * from dhis2_mappings where ${whereOf(sql, f)}
    order by source_name, instance_name, what, code`;
}

export async function mappingByUid(sql: Db, uid: string): Promise<MappingRow | undefined> {
  const [row] = await sql<MappingRow[]>`select * from dhis2_mappings where uid = ${uid}`;
  return row;
}

/**
 * Takes the version row's lock for the rest of the transaction. Mapping writers call this
 * first: they then run one at a time, so what an import read stays true until it commits, and
 * no two writers can deadlock over rows and the version row taken in different orders.
 */
export async function lockForWrite(sql: Db): Promise<void> {
  await sql`select version from dhis2_mapping_version for update`;
}

/** The version the trigger moves on every change; 0 before the first one. */
export async function mappingVersion(sql: Db): Promise<number> {
  const [row] = await sql<{ version: number | string }[]>`
    select version from dhis2_mapping_version`;
  // Number(): a pool without dhis2gw's int8 parser (connect()) returns bigint columns as text.
  return Number(row?.version ?? 0);
}

export async function insertMapping(sql: Db, uid: string, m: MappingInput): Promise<MappingRow> {
  const [row] = await sql<MappingRow[]>`
    insert into dhis2_mappings ${sql(toWriteRow(uid, m), ...WRITE_COLUMNS)} returning *`;
  return row;
}

export async function updateMapping(
  sql: Db,
  uid: string,
  m: MappingInput,
): Promise<MappingRow | undefined> {
  const { uid: _, ...cols } = toWriteRow(uid, m);
  const [row] = await sql<MappingRow[]>`
    update dhis2_mappings set ${sql(cols)}, updated = now() where uid = ${uid} returning *`;
  return row;
}

export async function deleteMapping(sql: Db, uid: string): Promise<MappingRow | undefined> {
  const [row] = await sql<MappingRow[]>`delete from dhis2_mappings where uid = ${uid} returning *`;
  return row;
}

/**
 * The columns an import compares, without the timestamps: parsing two dates per row was a
 * third of the time it took to read 100,000 rows back.
 */
const COMPARED = ["uid", ...MAPPING_COLUMNS.map((c) => c.db)];

/** A stored row without its timestamps, as an import compares it. */
export type ComparedRow = Omit<MappingRow, "created" | "updated">;

/** A (source_name, instance_name) pair: the unit a replace import makes complete. */
export interface Scope {
  source: string;
  instance: string;
}

/** Every row of the given scopes (a replace import compares the file with all of them). */
export function rowsInScopes(sql: Db, scopes: readonly Scope[]): Promise<ComparedRow[]> {
  if (scopes.length === 0) return Promise.resolve([]);
  return sql<ComparedRow[]>`
    select ${sql(COMPARED.map((c) => `m.${c}`))} from dhis2_mappings m
    join unnest(${scopes.map((s) => s.source)}::text[], ${
    scopes.map((s) => s.instance)
  }::text[]) as s(source_name, instance_name)
      using (source_name, instance_name)`;
}

/**
 * The rows an upsert of these mappings touches: same key, or (org unit rows) same source org
 * unit in the same scope, which the partial unique index dhis2_mappings_ou_key also guards.
 */
export function rowsMatching(sql: Db, ms: readonly MappingInput[]): Promise<ComparedRow[]> {
  if (ms.length === 0) return Promise.resolve([]);
  const ou = ms.filter((m) => m.what === "ou");
  return sql<ComparedRow[]>`
    select ${sql(COMPARED.map((c) => `m.${c}`))} from dhis2_mappings m
    join unnest(${ms.map((m) => m.code)}::text[], ${ms.map((m) => m.sourceName)}::text[],
                ${ms.map((m) => m.instanceName)}::text[], ${ms.map((m) => m.what)}::text[])
      as k(code, source_name, instance_name, what)
      using (code, source_name, instance_name, what)
    union
    select ${sql(COMPARED.map((c) => `m.${c}`))} from dhis2_mappings m
    join unnest(${ou.map((m) => m.sourceOrgUnit)}::text[], ${ou.map((m) => m.sourceName)}::text[],
                ${ou.map((m) => m.instanceName)}::text[])
      as k(source_orgunit, source_name, instance_name)
      using (source_orgunit, source_name, instance_name)
    where m.what = 'ou'`;
}

/**
 * Inserts new rows and overwrites changed ones by key, one statement for the whole batch.
 * A row's uid is kept on update (the `uid` of an updated row is ignored).
 */
export async function upsertBatch(
  sql: Db,
  rows: readonly Record<string, string>[],
): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    insert into dhis2_mappings ${sql(rows as Record<string, string>[], ...WRITE_COLUMNS)}
    on conflict on constraint unique_code_source_instance_what do update set
      name = excluded.name,
      description = excluded.description,
      dataset = excluded.dataset,
      dataelement = excluded.dataelement,
      category_option_combo = excluded.category_option_combo,
      attribute_option_combo = excluded.attribute_option_combo,
      category_option = excluded.category_option,
      category_combo = excluded.category_combo,
      source_orgunit = excluded.source_orgunit,
      dest_orgunit = excluded.dest_orgunit,
      updated = now()`;
}

export async function deleteByUids(sql: Db, uids: readonly string[]): Promise<number> {
  if (uids.length === 0) return 0;
  const result = await sql`delete from dhis2_mappings where uid = any(${uids as string[]}::text[])`;
  return result.count;
}

/** What the submission-path cache holds: the look-up columns of one instance's usable rows. */
export interface LookupRow {
  source_name: string;
  what: "de" | "ou";
  code: string;
  dataelement: string;
  category_option_combo: string;
  attribute_option_combo: string;
  source_orgunit: string;
  dest_orgunit: string;
}

/** An instance's look-up rows, at most `limit` of them when given. */
export function lookupRows(sql: Db, instance: string, limit?: number): Promise<LookupRow[]> {
  return sql<LookupRow[]>`
    select source_name, what, code, dataelement, category_option_combo, attribute_option_combo,
           source_orgunit, dest_orgunit
    from dhis2_mappings
    where instance_name = ${instance}
    ${limit === undefined ? sql`` : sql`limit ${limit}`}`;
}

/**
 * The data element rows of these codes only (dhis2_mappings_scope_idx). `= any(array)`, not
 * `in (list)`: one statement text for any number of codes, where a list made one per length,
 * each kept prepared by postgres.js and the server session.
 */
export function lookupCodes(
  sql: Db,
  instance: string,
  source: string,
  codes: readonly string[],
): Promise<LookupRow[]> {
  if (!codes.length) return Promise.resolve([]);
  return sql<LookupRow[]>`
    select source_name, what, code, dataelement, category_option_combo, attribute_option_combo,
           source_orgunit, dest_orgunit
    from dhis2_mappings
    where source_name = ${source} and instance_name = ${instance} and what = 'de'
      and code = any(${codes as string[]}::text[])`;
}

/** The org unit row of one source code (dhis2_mappings_ou_key). */
export function lookupOrgUnit(
  sql: Db,
  instance: string,
  source: string,
  code: string,
): Promise<LookupRow[]> {
  return sql<LookupRow[]>`
    select source_name, what, code, dataelement, category_option_combo, attribute_option_combo,
           source_orgunit, dest_orgunit
    from dhis2_mappings
    where source_name = ${source} and instance_name = ${instance} and what = 'ou'
      and source_orgunit = ${code}`;
}
