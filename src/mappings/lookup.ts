/**
 * The mappings domain's look-up: the DHIS2 UIDs behind a caller's codes. The submission path
 * depends only on this interface; `cache.ts` implements it over the `dhis2_mappings` table (the
 * app's default), tests inject `staticMappingLookup`.
 */

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
