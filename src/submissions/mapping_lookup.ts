/**
 * How a submission finds the DHIS2 UIDs behind a caller's codes. The submission path depends
 * only on this interface; the mappings domain owns the `dhis2_mappings` table (migration 0003)
 * and is expected to provide a cached implementation. `createDbMappingLookup` is a plain,
 * uncached stand-in that reads the table directly (when it exists) until then.
 */
import type { Db } from "../db/db.ts";

/** Where one request code goes in DHIS2. Empty optional fields mean "DHIS2's default". */
export interface DataValueMapping {
  dataElement: string;
  categoryOptionCombo?: string;
  attributeOptionCombo?: string;
}

export interface MappingLookup {
  /**
   * Data element mappings (`what = de`) of `sourceName` for the given codes. Codes without a
   * mapping are simply absent from the result.
   */
  resolve(sourceName: string, codes: readonly string[]): Promise<Map<string, DataValueMapping>>;
  /** The org unit UID mapped from `code` (`what = ou`) for `sourceName`, or null. */
  resolveOrgUnit(sourceName: string, code: string): Promise<string | null>;
}

/** The instance the old service hard-coded; dhis2gw talks to one DHIS2 per deployment. */
export const INSTANCE_NAME = "default";

/**
 * Reads `dhis2_mappings` (columns as in src/mappings/model.ts MAPPING_COLUMNS: code, what,
 * dataelement, category_option_combo, attribute_option_combo, source_name, instance_name,
 * source_orgunit, dest_orgunit; '' for "none"). Without the table, nothing is mapped.
 */
export function createDbMappingLookup(sql: Db): MappingLookup {
  let tableExists = false;
  const hasTable = async () => {
    // Only a positive answer is cached: the table appears when migration 0003 is applied.
    if (!tableExists) {
      const [row] = await sql`select to_regclass('dhis2_mappings') is not null as exists`;
      tableExists = row.exists === true;
    }
    return tableExists;
  };
  return {
    async resolve(sourceName, codes) {
      const out = new Map<string, DataValueMapping>();
      if (!codes.length || !(await hasTable())) return out;
      const rows = await sql<
        {
          code: string;
          dataelement: string;
          category_option_combo: string | null;
          attribute_option_combo: string | null;
        }[]
      >`
        select code, dataelement, category_option_combo, attribute_option_combo
        from dhis2_mappings
        where source_name = ${sourceName} and instance_name = ${INSTANCE_NAME}
          and what = 'de' and code = any(${codes as string[]}::text[])
          and coalesce(dataelement, '') <> ''
        order by code`;
      for (const r of rows) {
        if (out.has(r.code)) continue;
        const m: DataValueMapping = { dataElement: r.dataelement };
        if (r.category_option_combo) m.categoryOptionCombo = r.category_option_combo;
        if (r.attribute_option_combo) m.attributeOptionCombo = r.attribute_option_combo;
        out.set(r.code, m);
      }
      return out;
    },
    async resolveOrgUnit(sourceName, code) {
      if (!(await hasTable())) return null;
      const rows = await sql<{ dest_orgunit: string }[]>`
        select dest_orgunit from dhis2_mappings
        where source_name = ${sourceName} and instance_name = ${INSTANCE_NAME}
          and what = 'ou' and source_orgunit = ${code} and coalesce(dest_orgunit, '') <> ''
        limit 1`;
      return rows[0]?.dest_orgunit ?? null;
    },
  };
}

/** An in-memory lookup, for tests and the demo: `{ source: { code: mapping } }`. */
export function staticMappingLookup(
  de: Record<string, Record<string, DataValueMapping>>,
  ou: Record<string, Record<string, string>> = {},
): MappingLookup {
  return {
    resolve: (sourceName, codes) => {
      const table = de[sourceName] ?? {};
      return Promise.resolve(
        new Map(codes.filter((c) => Object.hasOwn(table, c)).map((c) => [c, table[c]])),
      );
    },
    resolveOrgUnit: (sourceName, code) => Promise.resolve(ou[sourceName]?.[code] ?? null),
  };
}
