/**
 * What the CSV and Excel importers share: limits, the row/problem shapes, header matching and
 * turning a table of cell texts into rows. The format modules only know how to get that table.
 */
import { AppError } from "../http/errors.ts";
import { MAPPING_COLUMNS, type MappingField, type MappingInput } from "./model.ts";

export interface ImportLimits {
  /** Size of the uploaded file. */
  maxBytes: number;
  /** Data rows (the header and blank rows not counted). */
  maxRows: number;
  /** Sum of the uncompressed sizes a workbook's ZIP declares (and actually inflates to). */
  maxDecompressedBytes: number;
  /**
   * Declared uncompressed bytes per compressed byte, over the whole workbook; checked only once
   * the workbook unpacks to more than maxBytes.
   */
  maxCompressionRatio: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: Readonly<ImportLimits> = Object.freeze({
  maxBytes: 10 * MiB,
  maxRows: 100_000,
  maxDecompressedBytes: 200 * MiB,
  // Our 100,000-row export compresses 9:1 and 50,000 identical rows 14:1 (cell references and
  // shared-string indexes keep sheet XML from repeating); deflate tops out near 1032:1, which is
  // what bombs use. 100 leaves room for other writers and refuses a bomb long before 200 MB.
  maxCompressionRatio: 100,
});

export function resolveLimits(limits: Partial<ImportLimits> = {}): ImportLimits {
  const out = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(limits) as [keyof ImportLimits, number][]) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** One thing wrong with an uploaded file. `row` is 1-based as a spreadsheet shows it (header = 1). */
export interface Problem {
  row: number;
  /** Canonical header name (e.g. `category_option_combo`), or "" for the whole row or file. */
  column: string;
  value: string;
  message: string;
}

/** One data row: the raw cell text of every recognised column the file has. */
export interface ParsedRow {
  row: number;
  fields: Partial<Record<MappingField, string>>;
}

export interface ParseResult {
  rows: ParsedRow[];
  problems: Problem[];
}

/** One row of a table of cell texts, with its 1-based row number. */
export interface TableRow {
  row: number;
  cells: string[];
}

export function checkSize(bytes: Uint8Array, limits: ImportLimits, what: string): void {
  if (bytes.byteLength > limits.maxBytes) {
    let size = formatBytes(bytes.byteLength);
    let limit = formatBytes(limits.maxBytes);
    // "10.0 MB; the limit is 10.0 MB" would read as a bug: show the bytes when rounding hides them.
    if (size === limit) [size, limit] = [`${bytes.byteLength} bytes`, `${limits.maxBytes} bytes`];
    throw new AppError("payload_too_large", `${what} is ${size}; the limit is ${limit}`);
  }
}

export function tooManyRows(limits: ImportLimits): AppError {
  return new AppError(
    "payload_too_large",
    `the file has more than ${limits.maxRows} data rows; split it into smaller files`,
  );
}

export function formatBytes(n: number): string {
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}

/**
 * Header cells compare without case, spaces, underscores, hyphens or dots, so
 * `Category Option Combo`, `category_option_combo` and the JSON name `categoryOptionCombo` match.
 */
export function headerKey(cell: string): string {
  return cell.normalize("NFKC").toLowerCase().replace(/[\s_.\-]+/g, "");
}

const FIELD_BY_KEY = new Map<string, MappingField>();
for (const col of MAPPING_COLUMNS) {
  FIELD_BY_KEY.set(headerKey(col.header), col.field);
  FIELD_BY_KEY.set(headerKey(col.field), col.field);
  for (const alias of col.aliases ?? []) FIELD_BY_KEY.set(headerKey(alias), col.field);
}

/**
 * A file must say what it maps from and to. An org unit file may key by source_orgunit and
 * map to destination_orgunit only, so each requirement accepts either of two columns.
 */
const REQUIRED: readonly (readonly [MappingField, MappingField])[] = [
  ["code", "sourceOrgUnit"],
  ["dataElement", "destinationOrgUnit"],
];

export interface HeaderMatch {
  /** Recognised columns: cell index → field. */
  columns: Map<number, MappingField>;
  /** Empty when the header has what REQUIRED asks for. */
  missing: string[];
  problems: Problem[];
}

const headerOf = (field: MappingField) =>
  MAPPING_COLUMNS.find((c) => c.field === field)?.header ?? field;

export function matchHeader(cells: readonly string[], row: number): HeaderMatch {
  const columns = new Map<number, MappingField>();
  const firstIndex = new Map<MappingField, number>();
  const problems: Problem[] = [];
  cells.forEach((cell, index) => {
    const field = FIELD_BY_KEY.get(headerKey(cell));
    if (field === undefined) return; // unknown columns (notes, colours) are the user's business
    const first = firstIndex.get(field);
    if (first !== undefined) {
      problems.push({
        row,
        column: headerOf(field),
        value: cell,
        message: `column appears twice (columns ${columnLetter(first)} and ${
          columnLetter(index)
        }); remove one`,
      });
      return;
    }
    firstIndex.set(field, index);
    columns.set(index, field);
  });
  const missing = REQUIRED
    .filter(([a, b]) => !firstIndex.has(a) && !firstIndex.has(b))
    .map(([a, b]) => `${headerOf(a)} (or ${headerOf(b)})`);
  return { columns, missing, problems };
}

/** The problem for a header that lacks required columns, quoting what was found. */
export function missingColumnsProblem(
  match: HeaderMatch,
  cells: readonly string[],
  row: number,
  hint = "",
): Problem {
  const found = cells.map((c) => JSON.stringify(c)).join(", ");
  return {
    row,
    column: "",
    value: cells.join(","),
    message: `missing required column(s): ${match.missing.join(", ")}; found header: [${found}]` +
      hint,
  };
}

/** Spreadsheet column letters for a 0-based index (0 → A, 26 → AA). */
export function columnLetter(index: number): string {
  let s = "";
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) {
    s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  }
  return s;
}

const isBlank = (cells: readonly string[]) => cells.every((c) => c.trim() === "");

/** How many non-blank rows may stand above the header (a title, a date, a note). */
const HEADER_SCAN = 10;

/**
 * The header row's index: the first of the first few non-blank rows that has the required
 * columns (a title row above it is common), else the first non-blank row, whose missing
 * columns the caller reports. -1 when every row is blank.
 */
export function locateHeader(rows: readonly (readonly string[])[]): number {
  let first = -1;
  let seen = 0;
  for (let i = 0; i < rows.length && seen < HEADER_SCAN; i++) {
    if (isBlank(rows[i])) continue;
    if (first < 0) first = i;
    seen++;
    if (matchHeader(rows[i], i + 1).missing.length === 0) return i;
  }
  return first;
}

export function findHeader(table: readonly TableRow[]): number {
  return locateHeader(table.map((r) => r.cells));
}

/**
 * Data rows below the header. Rows whose recognised cells are all blank are skipped (spreadsheets
 * are full of them, and a row with only a note in an unknown column maps nothing).
 */
export function collectRows(
  table: readonly TableRow[],
  headerIndex: number,
  columns: Map<number, MappingField>,
  limits: ImportLimits,
): ParsedRow[] {
  const rows: ParsedRow[] = [];
  for (let i = headerIndex + 1; i < table.length; i++) {
    const { row, cells } = table[i];
    const fields: Partial<Record<MappingField, string>> = {};
    let any = false;
    for (const [index, field] of columns) {
      const cell = cells[index] ?? "";
      fields[field] = cell;
      if (cell.trim() !== "") any = true;
    }
    if (!any) continue;
    if (rows.length >= limits.maxRows) throw tooManyRows(limits);
    rows.push({ row, fields });
  }
  return rows;
}

/** Export header row, in MAPPING_COLUMNS order. */
export const EXPORT_HEADER: readonly string[] = MAPPING_COLUMNS.map((c) => c.header);

export function mappingCells(m: MappingInput): string[] {
  return MAPPING_COLUMNS.map((c) => m[c.field] ?? "");
}
