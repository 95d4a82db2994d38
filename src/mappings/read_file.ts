/**
 * From uploaded bytes to checked rows: the format's parser, then the row checks. Pure and
 * CPU-bound, so it runs in a worker (offload.ts); errors for unreadable files are thrown as
 * AppErrors (400, 413, 415), problems with rows are returned.
 */
import { AppError } from "../http/errors.ts";
import { parseMappingsCsv } from "./csv.ts";
import { parseMappingsXlsx } from "./excel.ts";
import type { ImportLimits, ParseResult, Problem } from "./formats.ts";
import type { MappingField } from "./model.ts";
import { validateRows, type ValidRow } from "./validate.ts";
import { isZip } from "./zip.ts";

export type ImportFormat = "csv" | "xlsx";

/** OLE2 compound file (.xls) or ZIP (.xlsx) magic: a workbook, whatever its name says. */
export function looksLikeWorkbook(bytes: Uint8Array): boolean {
  const ole = [0xd0, 0xcf, 0x11, 0xe0];
  return isZip(bytes) || (bytes.length >= 4 && ole.every((b, i) => bytes[i] === b));
}

export function parseFile(
  format: ImportFormat,
  bytes: Uint8Array,
  limits: Partial<ImportLimits> = {},
): ParseResult {
  if (format === "xlsx") return parseMappingsXlsx(bytes, limits);
  if (looksLikeWorkbook(bytes)) {
    throw new AppError(
      "unsupported_media_type",
      "the file is an Excel workbook, not CSV: upload it to /api/v3/mappings/import/excel",
    );
  }
  return parseMappingsCsv(bytes, limits);
}

export interface CheckedFile {
  /** Data rows in the file. */
  rows: number;
  /** The mapping columns the file has (every row has the same). */
  present: MappingField[];
  /** Rows without problems, normalised. */
  mappings: ValidRow[];
  /** Sorted by row. */
  problems: Problem[];
}

export function readAndCheck(
  format: ImportFormat,
  bytes: Uint8Array,
  limits: Partial<ImportLimits> = {},
): CheckedFile {
  const parsed = parseFile(format, bytes, limits);
  const checked = validateRows(parsed.rows);
  return {
    rows: parsed.rows.length,
    // collectRows sets every recognised column on every row.
    present: Object.keys(parsed.rows[0]?.fields ?? {}) as MappingField[],
    mappings: checked.mappings,
    problems: [...parsed.problems, ...checked.problems].sort((a, b) => a.row - b.row),
  };
}
