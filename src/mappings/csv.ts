/**
 * Mappings as CSV. Import accepts what spreadsheet programs write: UTF-8 with or without a BOM,
 * comma or semicolon (Excel in locales with a decimal comma writes `;`), quoted fields, CRLF.
 */
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { AppError } from "../http/errors.ts";
import {
  checkSize,
  collectRows,
  columnLetter,
  EXPORT_HEADER,
  findHeader,
  type ImportLimits,
  mappingCells,
  matchHeader,
  missingColumnsProblem,
  type ParseResult,
  type Problem,
  resolveLimits,
  type TableRow,
} from "./formats.ts";
import type { MappingInput } from "./model.ts";

export function parseMappingsCsv(
  bytes: Uint8Array,
  limits: Partial<ImportLimits> = {},
): ParseResult {
  const lim = resolveLimits(limits);
  checkSize(bytes, lim, "the CSV file");
  let text = decodeUtf8(bytes);
  if (text.startsWith("\uFEFF")) text = text.slice(1);

  let delimiter = detectDelimiter(text);
  let table = readTable(text, delimiter);
  let headerIndex = findHeader(table);
  // The delimiter is read off the first line; a title line above the header may have none of
  // the header's. If the other delimiter finds a header with the required columns, it is the one.
  if (headerIndex >= 0 && matchHeader(table[headerIndex].cells, 1).missing.length > 0) {
    const other = delimiter === "," ? ";" : ",";
    try {
      const alt = readTable(text, other);
      const altIndex = findHeader(alt);
      if (altIndex >= 0 && matchHeader(alt[altIndex].cells, 1).missing.length === 0) {
        [delimiter, table, headerIndex] = [other, alt, altIndex];
      }
    } catch { /* not readable that way either: report with the first delimiter */ }
  }
  if (headerIndex < 0) {
    return {
      rows: [],
      problems: [{ row: 1, column: "", value: "", message: "the file is empty" }],
    };
  }
  const header = table[headerIndex];
  const match = matchHeader(header.cells, header.row);
  if (match.missing.length > 0) {
    const hint = header.cells.some((c) => c.includes("\t"))
      ? "; the file looks tab-separated: save it as CSV with commas or semicolons"
      : ` (read with delimiter "${delimiter}")`;
    return {
      rows: [],
      problems: [...match.problems, missingColumnsProblem(match, header.cells, header.row, hint)],
    };
  }
  return {
    rows: collectRows(table, headerIndex, match.columns, lim),
    problems: [...match.problems, ...cellsPastHeader(table, headerIndex)],
  };
}

/**
 * A value right of the header's last column: in a CSV file that is almost always a delimiter
 * inside an unquoted value (`1,5` in a `,` file), which shifts every later cell of the row.
 * Refused rather than dropped.
 */
function cellsPastHeader(table: readonly TableRow[], headerIndex: number): Problem[] {
  const width = table[headerIndex].cells.length;
  const problems: Problem[] = [];
  for (const { row, cells } of table.slice(headerIndex + 1)) {
    const extra = cells.findIndex((c, i) => i >= width && c.trim() !== "");
    if (extra < 0) continue;
    problems.push({
      row,
      column: columnLetter(extra),
      value: cells[extra],
      message: `the row has more values than the header has columns (${width}); quote any ` +
        "value that contains the delimiter",
    });
  }
  return problems;
}

/** Records as a spreadsheet shows them: one row per record, blank lines included, from row 1. */
function readTable(text: string, delimiter: "," | ";"): TableRow[] {
  let records: string[][];
  try {
    records = parse(text, {
      delimiter,
      relax_column_count: true, // short rows are fine: missing cells are empty
      relax_quotes: true, // a stray quote inside an unquoted field (5" tube) is text, as in Excel
      skip_empty_lines: false, // keep blank lines so row numbers match what a spreadsheet shows
    });
  } catch (err) {
    throw csvSyntaxError(err);
  }
  return records.map((cells, i) => ({ row: i + 1, cells: cells.map(unescapeCsvCell) }));
}

/** `,` or `;`, whichever the header line has more of outside quotes; `,` when neither. */
export function detectDelimiter(text: string): "," | ";" {
  let commas = 0;
  let semicolons = 0;
  let quoted = false;
  let seenText = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === "\n" || ch === "\r")) {
      if (seenText) break; // end of the first non-blank line
    } else if (!quoted && ch === ",") commas++;
    else if (!quoted && ch === ";") semicolons++;
    if (ch.trim() !== "") seenText = true;
  }
  return semicolons > commas ? ";" : ",";
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 only: a file saved as Windows-1252 would otherwise import as mojibake, silently. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw badEncoding(bytes);
  }
}

function badEncoding(bytes: Uint8Array): AppError {
  const utf16 = (bytes[0] === 0xff && bytes[1] === 0xfe) ||
    (bytes[0] === 0xfe && bytes[1] === 0xff);
  const offset = utf16 ? 0 : Math.min(firstInvalidUtf8(bytes), bytes.length - 1);
  let line = 1;
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
  const byte = `0x${bytes[offset].toString(16).toUpperCase().padStart(2, "0")}`;
  const message = utf16
    ? "the file is UTF-16 (Excel's 'Unicode Text'), not UTF-8: save it as 'CSV UTF-8'"
    : `the file is not valid UTF-8: byte ${byte} at line ${line} (byte offset ${offset}); ` +
      "save it as 'CSV UTF-8' (it was probably saved in a legacy encoding such as Windows-1252)";
  const problem: Problem = { row: line, column: "", value: byte, message };
  return new AppError("bad_request", message, { details: [problem] });
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    let need: number;
    let min: number; // smallest code point for this length, to refuse overlong forms
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return bytes.length;
}

function csvSyntaxError(err: unknown): AppError {
  const e = err as { code?: string; lines?: number; message?: string };
  const line = e.lines ?? 0;
  const message = e.code === "CSV_QUOTE_NOT_CLOSED"
    ? `a quoted field is never closed: the file ended (line ${line}) inside quotes; ` +
      'look for a stray " character'
    : `the CSV file cannot be read near line ${line}: ${e.message ?? String(err)}`;
  return new AppError("bad_request", message, {
    details: [{ row: line, column: "", value: "", message } satisfies Problem],
  });
}

/** What a spreadsheet reads as the start of a formula (OWASP "CSV Injection"). */
const FORMULA_START = /^[=+\-@\t\r]/;
/** A plain number such as -12.5: a spreadsheet shows it as a number, never runs it. */
const PLAIN_NUMBER = /^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/**
 * One exported cell, safe to open in a spreadsheet: a value that would start a formula gets a
 * leading `'` (OWASP's advice: Excel and LibreOffice then show it as text). So that the import
 * can take exactly one `'` off again, a value that already starts with `'` gets one more.
 * Plain numbers stay as they are.
 */
export function escapeCsvCell(value: string): string {
  if (value.startsWith("'")) return "'" + value;
  if (FORMULA_START.test(value) && !PLAIN_NUMBER.test(value)) return "'" + value;
  return value;
}

/**
 * The import's inverse of escapeCsvCell: one leading `'` comes off. A hand-written file's
 * `'001` therefore reads as `001`, as the spreadsheet that wrote it showed it.
 */
export function unescapeCsvCell(cell: string): string {
  return cell.startsWith("'") ? cell.slice(1) : cell;
}

/**
 * CSV export: comma-separated, CRLF (RFC 4180), with a UTF-8 BOM because Excel otherwise opens
 * the file as Windows-1252 and mangles non-ASCII names. The importer strips the BOM again.
 * Every cell goes through escapeCsvCell; the XLSX export needs no such thing (its cells are
 * typed strings, never formulas).
 */
export function mappingsToCsv(mappings: readonly MappingInput[]): string {
  const rows = [
    EXPORT_HEADER as string[],
    ...mappings.map((m) => mappingCells(m).map(escapeCsvCell)),
  ];
  return "\uFEFF" + stringify(rows, { record_delimiter: "\r\n" });
}
