/**
 * Mappings as Excel workbooks, through SheetJS. Import picks the sheet whose header row carries
 * the mapping columns (the old service read sheet 0 blindly, and its own exports put an empty
 * Sheet1 first); cells are read as the text the user sees, so code 001 stays 001. Export writes
 * every cell as text so that round-trips too.
 */
import * as XLSX from "@e965/xlsx";
import { AppError } from "../http/errors.ts";
import {
  checkSize,
  collectRows,
  columnLetter,
  EXPORT_HEADER,
  findHeader,
  type HeaderMatch,
  type ImportLimits,
  locateHeader,
  mappingCells,
  matchHeader,
  missingColumnsProblem,
  type ParseResult,
  type Problem,
  resolveLimits,
  type TableRow,
} from "./formats.ts";
import { COLUMN_BY_FIELD, type MappingInput } from "./model.ts";
import { isZip, repackZip, unzip, writeZip } from "./zip.ts";

/** OLE2 compound file: .xls (BIFF8), or an encrypted .xlsx. */
const isCompoundFile = (b: Uint8Array) =>
  b.length >= 8 && [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1].every((x, i) => b[i] === x);

export function parseMappingsXlsx(
  bytes: Uint8Array,
  limits: Partial<ImportLimits> = {},
): ParseResult {
  const lim = resolveLimits(limits);
  checkSize(bytes, lim, "the workbook");
  let data: Uint8Array;
  if (isZip(bytes)) data = repackZip(bytes, lim);
  else if (isCompoundFile(bytes)) data = bytes; // BIFF is not compressed: maxBytes bounds it
  else throw notAWorkbook(bytes);

  let wb: XLSX.WorkBook;
  try {
    wb = XLSX.read(data, {
      type: "array",
      dense: true,
      cellNF: true, // number formats, to tell a formatted 001 from a General 1
      // cellText formats every cell, strings included: 3.6 s of 12 s on 100,000 rows. Only
      // formatted numbers need it, and cellText() formats those itself.
      cellText: false,
      cellDates: false,
      cellHTML: false,
      cellFormula: false,
      cellStyles: false,
      bookVBA: false,
    });
  } catch (err) {
    const why = (err as Error).message ?? String(err);
    const message = /password|encrypt/i.test(why)
      ? "the workbook is password-protected; remove the password and upload it again"
      : `the file cannot be read as an Excel workbook: ${why}`;
    throw new AppError("bad_request", message);
  }

  const chosen = chooseSheet(wb);
  if ("problem" in chosen) return { rows: [], problems: [chosen.problem] };
  const { table, headerIndex, match, errors } = chosen;
  const problems = [...match.problems];
  const headerRow = table[headerIndex].row;
  for (const e of errors) {
    const field = match.columns.get(e.col);
    if (field === undefined || e.row <= headerRow) continue; // a title row's #REF! maps nothing
    problems.push({
      row: e.row,
      column: COLUMN_BY_FIELD.get(field)?.header ?? field,
      value: e.text,
      message: `cell ${columnLetter(e.col)}${e.row} holds a formula error`,
    });
  }
  return { rows: collectRows(table, headerIndex, match.columns, lim), problems };
}

interface SheetTable {
  table: TableRow[];
  headerIndex: number;
  match: HeaderMatch;
  /** Error cells (#N/A, #REF!): a code must not silently become "#N/A". */
  errors: { row: number; col: number; text: string }[];
}

/**
 * The sheet with a header row (among its first non-blank rows) that has the required columns; if several do, the one that
 * recognises the most columns, then the first. Sheets are only fully read once chosen.
 */
function chooseSheet(wb: XLSX.WorkBook): SheetTable | { problem: Problem } {
  let best: { name: string; headerRow: number; match: HeaderMatch } | undefined;
  const seen: string[] = [];
  for (const name of wb.SheetNames) {
    const rows = denseRows(wb.Sheets[name]);
    const r = locateHeader(
      Array.from(rows.slice(0, 200), (cells) => Array.from(cells ?? [], cellText)),
    );
    if (r < 0) continue;
    const cells = Array.from(rows[r] ?? [], cellText);
    const match = matchHeader(cells, r + 1);
    if (match.missing.length > 0) {
      seen.push(`sheet "${name}": ${missingColumnsProblem(match, cells, r + 1).message}`);
    } else if (!best || match.columns.size > best.match.columns.size) {
      best = { name, headerRow: r, match };
    }
  }
  if (!best) {
    const message = seen.length === 0
      ? "the workbook has no data"
      : `no sheet has the mapping columns; ${seen.join("; ")}`;
    return { problem: { row: 1, column: "", value: "", message } };
  }

  const rows = denseRows(wb.Sheets[best.name]);
  const table: TableRow[] = [];
  const errors: SheetTable["errors"] = [];
  for (let r = 0; r < rows.length; r++) {
    const cells = rows[r] ?? [];
    const texts = Array.from(cells, cellText);
    cells.forEach((c, col) => {
      if (c?.t === "e") errors.push({ row: r + 1, col, text: texts[col] });
    });
    table.push({ row: r + 1, cells: texts });
  }
  const headerIndex = findHeader(table);
  return { table, headerIndex, match: best.match, errors };
}

function denseRows(ws: XLSX.WorkSheet | undefined): (XLSX.CellObject[] | undefined)[] {
  return (ws?.["!data"] as (XLSX.CellObject[] | undefined)[] | undefined) ?? [];
}

/**
 * The text a user sees and means. Strings are taken as they are. A number in the General format
 * is written out in full (Excel would show 12345678901234 as 1.23457E+13, but the code is the
 * digits); a number with a format (000, a date) is taken as formatted, which keeps 001 as 001.
 */
export function cellText(c: XLSX.CellObject | undefined): string {
  if (!c || c.v === undefined || c.v === null) return c?.w ?? "";
  switch (c.t) {
    case "s":
      return String(c.v);
    case "n":
      if (c.z === undefined || c.z === "General") return String(c.v);
      return c.w ?? XLSX.SSF.format(c.z, c.v as number);
    case "b":
      return c.v ? "TRUE" : "FALSE";
    case "e":
      return c.w ?? ERROR_TEXT[c.v as number] ?? "#ERROR";
    default:
      return c.w ?? String(c.v);
  }
}

/** Excel's error codes, as SheetJS stores them in `v` when it does not format cells. */
const ERROR_TEXT: Record<number, string> = {
  0x00: "#NULL!",
  0x07: "#DIV/0!",
  0x0f: "#VALUE!",
  0x17: "#REF!",
  0x1d: "#NAME?",
  0x24: "#NUM!",
  0x2a: "#N/A",
  0x2b: "#GETTING_DATA",
};

function notAWorkbook(bytes: Uint8Array): AppError {
  const head = new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, 200));
  const looksLikeText = ![...head].some((ch) =>
    ch === "\uFFFD" || (ch < " " && !"\t\n\r".includes(ch))
  );
  const hint = looksLikeText
    ? "; it looks like a text file (CSV?): upload it with a .csv name"
    : "";
  return new AppError(
    "unsupported_media_type",
    `the file is not an Excel workbook (.xlsx is a ZIP file, .xls a compound file)${hint}`,
  );
}

/** Cells of this many blank rows under the template's header are pre-formatted as text. */
const TEMPLATE_TEXT_ROWS = 500;
const TEXT_FORMAT = "@";

/**
 * Every cell is a string with Excel's Text format, so a code edited to 002 later stays 002 too.
 * Empty cells are left out (they were half of a 100,000-row export); `blankRows` text-formatted
 * empty rows follow, for the template.
 */
function sheetOf(rows: readonly (readonly string[])[], blankRows = 0): XLSX.WorkSheet {
  const data: XLSX.CellObject[][] = rows.map((cells) => {
    const out: XLSX.CellObject[] = [];
    cells.forEach((v, c) => {
      if (v !== "") out[c] = { t: "s", v, z: TEXT_FORMAT };
    });
    return out;
  });
  for (let i = 0; i < blankRows; i++) {
    data.push(EXPORT_HEADER.map(() => ({ t: "s", v: "", z: TEXT_FORMAT })));
  }
  const ws: XLSX.WorkSheet = { "!data": data };
  ws["!ref"] = XLSX.utils.encode_range({
    s: { r: 0, c: 0 },
    e: { r: Math.max(data.length - 1, 0), c: EXPORT_HEADER.length - 1 },
  });
  ws["!cols"] = EXPORT_HEADER.map((h) => ({ wch: Math.max(h.length + 2, 14) }));
  return ws;
}

function workbookBytes(sheets: [string, XLSX.WorkSheet][]): Uint8Array {
  // book_new() from scratch has no sheets: no stray empty Sheet1 for the importer to trip on.
  const wb = XLSX.utils.book_new();
  for (const [name, ws] of sheets) XLSX.utils.book_append_sheet(wb, ws, name);
  // SheetJS writes the parts uncompressed; writeZip deflates them natively (see there).
  const stored = new Uint8Array(
    XLSX.write(wb, { type: "array", bookType: "xlsx", compression: false, bookSST: true }),
  );
  return writeZip(unzip(stored, OWN_OUTPUT), true);
}

/** Our own SheetJS output needs no bomb limits. */
const OWN_OUTPUT = resolveLimits({
  maxDecompressedBytes: Infinity,
  maxCompressionRatio: Infinity,
});

export function mappingsToXlsx(mappings: readonly MappingInput[]): Uint8Array {
  return workbookBytes([["Mappings", sheetOf([EXPORT_HEADER, ...mappings.map(mappingCells)])]]);
}

const INSTRUCTIONS: readonly (readonly string[])[] = [
  ["How to fill the Mappings sheet"],
  [""],
  ["One row per mapping. Keep the header row; column order does not matter."],
  ["what: de (data element, the default when empty) or ou (org unit)."],
  ["de rows need code, name and dataelement; category_option_combo and"],
  ["attribute_option_combo are optional (empty = DHIS2's default)."],
  ["ou rows need destination_orgunit and code or source_orgunit."],
  ["dataset, dataelement, category_option_combo, attribute_option_combo, category_option,"],
  ["category_combo and destination_orgunit hold DHIS2 UIDs (11 characters, e.g. fbfJHSPpUQD)."],
  ["instance_name and source_name default to 'default'."],
  ["code + source_name + instance_name + what must be unique."],
];

export function templateXlsx(): Uint8Array {
  const instructions: XLSX.WorkSheet = XLSX.utils.aoa_to_sheet(INSTRUCTIONS as string[][], {
    dense: true,
  });
  instructions["!cols"] = [{ wch: 100 }];
  return workbookBytes([["Mappings", sheetOf([EXPORT_HEADER], TEMPLATE_TEXT_ROWS)], [
    "Instructions",
    instructions,
  ]]);
}
