import assert from "node:assert/strict";
import * as XLSX from "@e965/xlsx";
import { AppError } from "../http/errors.ts";
import { cellText, mappingsToXlsx, parseMappingsXlsx, templateXlsx } from "./excel.ts";
import { EXPORT_HEADER } from "./formats.ts";
import type { MappingInput } from "./model.ts";
import { validateRows } from "./validate.ts";
import { writeZip } from "./zip.ts";

const DE = "fbfJHSPpUQD";

const base: MappingInput = {
  code: "",
  what: "de",
  name: "",
  description: "",
  dataSet: "",
  dataElement: DE,
  categoryOptionCombo: "",
  attributeOptionCombo: "",
  categoryOption: "",
  categoryCombo: "",
  instanceName: "default",
  sourceName: "default",
  sourceOrgUnit: "",
  destinationOrgUnit: "",
};

const sample: MappingInput[] = [
  { ...base, code: "001", name: "Leading zeros", dataSet: "pBOMPrpg1QX" },
  {
    ...base,
    code: "1.50",
    name: 'Commas, "quotes"; semicolons',
    description: "Abaana abato abagemeddwa ku mulembe; é ñ ü",
    categoryOptionCombo: "Prlt0C1RF0s",
    attributeOptionCombo: "HllvX50cXC0",
    sourceName: "pbs",
  },
  {
    ...base,
    code: "HF-7",
    what: "ou",
    name: "Kampala",
    dataElement: "",
    sourceOrgUnit: "HF-7",
    destinationOrgUnit: "DiszpKrYNg8",
    instanceName: "dhis2-prod",
  },
];

/** A workbook built with SheetJS, written the way any spreadsheet program would. */
function book(sheets: [string, XLSX.CellObject[][] | unknown[][]][], bookType = "xlsx") {
  const wb = XLSX.utils.book_new();
  for (const [name, rows] of sheets) {
    const ws = XLSX.utils.aoa_to_sheet(rows as unknown[][]);
    XLSX.utils.book_append_sheet(wb, ws, name);
  }
  const out = XLSX.write(wb, { type: "array", bookType: bookType as XLSX.BookType });
  return new Uint8Array(out as ArrayBuffer);
}

function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, `expected an AppError, got ${err}`);
    return err;
  }
  assert.fail("expected the file to be refused");
}

Deno.test("xlsx: export then import gives the same mappings", () => {
  const parsed = parseMappingsXlsx(mappingsToXlsx(sample));
  assert.deepEqual(parsed.problems, []);
  assert.deepEqual(parsed.rows.map((r) => r.row), [2, 3, 4]);
  const checked = validateRows(parsed.rows);
  assert.deepEqual(checked.problems, []);
  assert.deepEqual(checked.mappings.map((m) => m.mapping), sample);
});

Deno.test("xlsx: export has one sheet, the header in order, and only text cells", () => {
  const wb = XLSX.read(mappingsToXlsx(sample), { type: "array", cellNF: true });
  assert.deepEqual(wb.SheetNames, ["Mappings"]);
  const ws = wb.Sheets.Mappings;
  const rows = XLSX.utils.sheet_to_json<string[]>(ws, { header: 1 });
  assert.deepEqual(rows[0], EXPORT_HEADER);
  assert.equal(ws.A2.t, "s");
  assert.equal(ws.A2.v, "001");
  assert.equal(ws.A2.z, "@");
  for (const [addr, cell] of Object.entries(ws)) {
    if (!addr.startsWith("!")) assert.equal((cell as XLSX.CellObject).t, "s", addr);
  }
});

Deno.test("xlsx: codes read as the text the user sees", () => {
  const rows: unknown[][] = [
    ["code", "name", "dataelement"],
    ["001", "string cell", DE],
    [{ t: "n", v: 1, z: "000" }, "number formatted 000", DE],
    [7, "plain number", DE],
    [12345678901234, "long number, shown 1.23457E+13 by Excel", DE],
    [true, "boolean", DE],
  ];
  const parsed = parseMappingsXlsx(book([["Sheet1", rows]]));
  assert.deepEqual(parsed.rows.map((r) => r.fields.code), [
    "001",
    "001",
    "7",
    "12345678901234",
    "TRUE",
  ]);
  assert.equal(cellText(undefined), "");
});

Deno.test("xlsx: the sheet with the mapping header is used, not the first one", () => {
  const bytes = book([
    ["Read me", [["Mappings for facility reports"], ["code: the source code"]]],
    ["Empty", []],
    ["Data", [[], ["notes", "Code", "Data Element", "Name"], ["x", "A", DE, "n"]]],
  ]);
  const parsed = parseMappingsXlsx(bytes);
  assert.deepEqual(parsed.problems, []);
  assert.deepEqual(parsed.rows, [{ row: 3, fields: { code: "A", dataElement: DE, name: "n" } }]);
});

Deno.test("xlsx: a title and a date above the header are skipped", () => {
  const bytes = book([
    ["Mappings", [["HMIS mappings"], ["exported 2024-05-01"], ["code", "dataelement"], ["A", DE]]],
  ]);
  const parsed = parseMappingsXlsx(bytes);
  assert.deepEqual(parsed.problems, []);
  assert.deepEqual(parsed.rows, [{ row: 4, fields: { code: "A", dataElement: DE } }]);
});

Deno.test("xlsx: no sheet with the columns is one problem naming each sheet's header", () => {
  const parsed = parseMappingsXlsx(book([["One", [["a", "b"]]], ["Two", [["code", "name"]]]]));
  assert.deepEqual(parsed.rows, []);
  assert.equal(parsed.problems.length, 1);
  assert.match(
    parsed.problems[0].message,
    /^no sheet has the mapping columns; sheet "One": missing required column\(s\): code \(or source_orgunit\), dataelement \(or destination_orgunit\); found header: \["a", "b"\]; sheet "Two": missing required column\(s\): dataelement/,
  );
});

Deno.test("xlsx: the template has instructions but imports as an empty Mappings sheet", () => {
  const bytes = templateXlsx();
  assert.deepEqual(XLSX.read(bytes, { type: "array" }).SheetNames, ["Mappings", "Instructions"]);
  assert.deepEqual(parseMappingsXlsx(bytes), { rows: [], problems: [] });
});

Deno.test("xlsx: a template filled in (and saved by another writer) imports", () => {
  const wb = XLSX.read(templateXlsx(), { type: "array", cellNF: true });
  const ws = wb.Sheets.Mappings;
  ws.A2 = { t: "s", v: "007", z: "@" };
  ws.C2 = { t: "s", v: "Omusujja" };
  ws.F2 = { t: "s", v: DE };
  const bytes = new Uint8Array(XLSX.write(wb, { type: "array", bookType: "xlsx" }));
  const parsed = parseMappingsXlsx(bytes);
  assert.deepEqual(parsed.problems, []);
  assert.deepEqual(parsed.rows.map((r) => [r.row, r.fields.code, r.fields.name]), [
    [2, "007", "Omusujja"],
  ]);
});

Deno.test("xlsx: an .xls (BIFF8) workbook is read too", () => {
  const bytes = book([["Sheet1", [["code", "dataelement"], ["002", DE]]]], "biff8");
  assert.equal(bytes[0], 0xd0);
  assert.deepEqual(parseMappingsXlsx(bytes).rows, [
    { row: 2, fields: { code: "002", dataElement: DE } },
  ]);
});

Deno.test("xlsx: a formula error in a mapping column is a problem, elsewhere ignored", () => {
  const rows = [
    ["code", "dataelement", "notes"],
    [{ t: "e", v: 0x2a, w: "#N/A" }, DE, { t: "e", v: 0x07, w: "#DIV/0!" }],
  ];
  const parsed = parseMappingsXlsx(book([["Sheet1", rows]]));
  assert.deepEqual(parsed.problems, [
    { row: 2, column: "code", value: "#N/A", message: "cell A2 holds a formula error" },
  ]);
});

Deno.test("xlsx: files that are not workbooks get a clear 4xx", () => {
  const csv = refusal(() => parseMappingsXlsx(new TextEncoder().encode("code,name\nA,b\n")));
  assert.equal(csv.status, 415);
  assert.match(csv.message, /not an Excel workbook .*looks like a text file \(CSV\?\)/);

  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]);
  const image = refusal(() => parseMappingsXlsx(png));
  assert.equal(image.status, 415);
  assert.doesNotMatch(image.message, /text file/);

  // A well-formed ZIP that holds no workbook.
  const zip = writeZip([{ name: "photo.jpg", data: new Uint8Array(100) }], true);
  const notBook = refusal(() => parseMappingsXlsx(zip));
  assert.equal(notBook.status, 400);
  assert.match(notBook.message, /cannot be read as an Excel workbook/);

  assert.equal(refusal(() => parseMappingsXlsx(new Uint8Array())).status, 415);
});

Deno.test("xlsx: over maxBytes or maxRows is 413", () => {
  const bytes = mappingsToXlsx(sample);
  const big = refusal(() => parseMappingsXlsx(bytes, { maxBytes: bytes.length - 1 }));
  assert.equal(big.status, 413);
  // Rounded, both sizes would read 6.4 KB: the message shows the bytes then.
  assert.equal(
    big.message,
    `the workbook is ${bytes.length} bytes; the limit is ${bytes.length - 1} bytes`,
  );
  assert.equal(refusal(() => parseMappingsXlsx(bytes, { maxRows: 2 })).status, 413);
  assert.equal(parseMappingsXlsx(bytes, { maxRows: 3 }).rows.length, 3);
});
