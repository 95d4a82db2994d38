import assert from "node:assert/strict";
import { AppError } from "../http/errors.ts";
import { detectDelimiter, firstInvalidUtf8, mappingsToCsv, parseMappingsCsv } from "./csv.ts";
import type { MappingInput } from "./model.ts";
import { validateRows } from "./validate.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const DE = "fbfJHSPpUQD";

function appError(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, `expected an AppError, got ${err}`);
    return err;
  }
  assert.fail("expected an error");
}

Deno.test("csv: comma file with quotes, short rows and unknown columns", () => {
  const r = parseMappingsCsv(enc(
    'code,name,notes,dataelement\n001,"ANC, 1st ""visit""",x,' + DE + "\n002,Short row\n",
  ));
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.rows, [
    { row: 2, fields: { code: "001", name: 'ANC, 1st "visit"', dataElement: DE } },
    { row: 3, fields: { code: "002", name: "Short row", dataElement: "" } },
  ]);
});

Deno.test("csv: a value past the header's last column is a problem, not dropped", () => {
  const r = parseMappingsCsv(
    enc(`code,what,name,dataelement\nX1,de,x,${DE},extra\nX2,de,y,${DE},\n`),
  );
  assert.deepEqual(r.problems, [{
    row: 2,
    column: "E",
    value: "extra",
    message: "the row has more values than the header has columns (4); quote any value that " +
      "contains the delimiter",
  }]);
});

Deno.test("csv: a title line without the delimiter above a semicolon header", () => {
  const r = parseMappingsCsv(enc(`Facility mappings\n\ncode;dataelement\nA;${DE}\n`));
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.rows, [{ row: 4, fields: { code: "A", dataElement: DE } }]);
  const comma = parseMappingsCsv(enc(`Mappings, May 2024;\ncode;dataelement\nB;${DE}\n`));
  assert.deepEqual(comma.problems, []);
  assert.deepEqual(comma.rows, [{ row: 3, fields: { code: "B", dataElement: DE } }]);
});

Deno.test("csv: a title line above the header is skipped", () => {
  const r = parseMappingsCsv(enc(`Facility mappings\n\ncode,dataelement\nA,${DE}\n`));
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.rows, [{ row: 4, fields: { code: "A", dataElement: DE } }]);
});

Deno.test("csv: semicolon file with a BOM, CRLF and a quoted newline", () => {
  const text = "\uFEFFcode;name;dataelement\r\n" +
    `A;"two\r\nlines; and a semicolon";${DE}\r\n` +
    `B;Ñame é;${DE}\r\n`;
  const r = parseMappingsCsv(enc(text));
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.rows.map((x) => [x.row, x.fields.code, x.fields.name]), [
    [2, "A", "two\r\nlines; and a semicolon"],
    [3, "B", "Ñame é"],
  ]);
});

Deno.test("csv: header names match whatever their case, spacing or underscores", () => {
  const header = "  CODE , Data Element,category_option_combo ,CATEGORY_OPTION, " +
    "Destination OrgUnit,dest_orgunit,Source Name";
  const r = parseMappingsCsv(enc(`${header}\nA,${DE},${DE},${DE},${DE},,pbs\n`));
  assert.deepEqual(r.rows[0].fields, {
    code: "A",
    dataElement: DE,
    categoryOptionCombo: DE,
    categoryOption: DE,
    destinationOrgUnit: DE,
    sourceName: "pbs",
  });
  // destination_orgunit and its alias dest_orgunit are the same column, given twice.
  assert.equal(r.problems.length, 1);
  assert.match(r.problems[0].message, /column appears twice \(columns E and F\)/);
});

Deno.test("csv: blank lines keep the row numbers a spreadsheet shows", () => {
  const r = parseMappingsCsv(enc(`code,dataelement\n\nA,${DE}\n,\nB,${DE}\n`));
  assert.deepEqual(r.rows.map((x) => x.row), [3, 5]);
});

Deno.test("csv: a tab-separated file is refused naming the missing columns and the header", () => {
  const r = parseMappingsCsv(enc(`code\tname\tdataelement\nA\tx\t${DE}\n`));
  assert.deepEqual(r.rows, []);
  assert.equal(r.problems.length, 1);
  assert.equal(r.problems[0].row, 1);
  assert.match(
    r.problems[0].message,
    /^missing required column\(s\): code \(or source_orgunit\), dataelement \(or destination_orgunit\); found header: \["code\\tname\\tdataelement"\]; the file looks tab-separated/,
  );
});

Deno.test("csv: a header without a target column says which is missing", () => {
  const r = parseMappingsCsv(enc("code,name\nA,x\n"));
  assert.match(r.problems[0].message, /missing required column\(s\): dataelement \(or /);
  assert.match(
    r.problems[0].message,
    /found header: \["code", "name"\] \(read with delimiter ","\)/,
  );
});

Deno.test("csv: delimiter detection ignores separators inside quotes", () => {
  assert.equal(detectDelimiter('"a;b;c",d\n1;2;3;4'), ",");
  assert.equal(detectDelimiter("\n\ncode;name,x;y\n"), ";");
  assert.equal(detectDelimiter("code"), ",");
});

Deno.test("csv: Windows-1252 bytes are refused with the line and byte", () => {
  const bytes = new Uint8Array([...enc("code,name\nA,ok\nB,caf"), 0xe9, ...enc("\n")]);
  const err = appError(() => parseMappingsCsv(bytes));
  assert.equal(err.status, 400);
  assert.match(err.message, /not valid UTF-8: byte 0xE9 at line 3 \(byte offset 20\)/);
  assert.deepEqual((err.details as { row: number }[])[0].row, 3);
});

Deno.test("csv: a UTF-16 file is named as such", () => {
  const err = appError(() => parseMappingsCsv(new Uint8Array([0xff, 0xfe, 0x63, 0x00])));
  assert.match(err.message, /UTF-16/);
});

Deno.test("utf-8 scan: finds overlong forms, surrogates and truncated sequences", () => {
  assert.equal(firstInvalidUtf8(enc("ok é ñ 𝄞")), enc("ok é ñ 𝄞").length);
  assert.equal(firstInvalidUtf8(new Uint8Array([0x41, 0xc0, 0x80])), 1); // overlong NUL
  assert.equal(firstInvalidUtf8(new Uint8Array([0xed, 0xa0, 0x80])), 0); // surrogate D800
  assert.equal(firstInvalidUtf8(new Uint8Array([0x41, 0x42, 0xe2, 0x82])), 2); // cut short
});

Deno.test("csv: an unclosed quote is a 400 naming the stray quote", () => {
  const err = appError(() => parseMappingsCsv(enc('code,name\nA,"open\nB,x\n')));
  assert.equal(err.status, 400);
  assert.match(err.message, /quoted field is never closed/);
});

Deno.test("csv: over maxBytes or maxRows is 413", () => {
  const text = `code,dataelement\n${Array.from({ length: 5 }, (_, i) => `C${i},${DE}`).join("\n")}`;
  assert.equal(appError(() => parseMappingsCsv(enc(text), { maxBytes: 20 })).status, 413);
  const tooMany = appError(() => parseMappingsCsv(enc(text), { maxRows: 4 }));
  assert.equal(tooMany.status, 413);
  assert.match(tooMany.message, /more than 4 data rows/);
  assert.equal(parseMappingsCsv(enc(text), { maxRows: 5 }).rows.length, 5);
});

Deno.test("csv: an empty file is one problem, not a crash", () => {
  assert.deepEqual(parseMappingsCsv(enc("\uFEFF\r\n")).problems[0].message, "the file is empty");
});

const sample: MappingInput[] = [
  {
    code: "001",
    what: "de",
    name: 'Vaccination, "BCG"; é ñ',
    description: "Abaana abato abagemeddwa; line\nbreak",
    dataSet: "pBOMPrpg1QX",
    dataElement: DE,
    categoryOptionCombo: "Prlt0C1RF0s",
    attributeOptionCombo: "HllvX50cXC0",
    categoryOption: "",
    categoryCombo: "",
    instanceName: "default",
    sourceName: "pbs",
    sourceOrgUnit: "",
    destinationOrgUnit: "",
  },
  {
    code: "HF-7",
    what: "ou",
    name: "Kampala ñ",
    description: "",
    dataSet: "",
    dataElement: "",
    categoryOptionCombo: "",
    attributeOptionCombo: "",
    categoryOption: "",
    categoryCombo: "",
    instanceName: "dhis2-prod",
    sourceName: "default",
    sourceOrgUnit: "HF-7",
    destinationOrgUnit: "DiszpKrYNg8",
  },
];

Deno.test("csv: export then import gives the same mappings", () => {
  const text = mappingsToCsv(sample);
  assert.ok(text.startsWith("\uFEFFcode,what,name,description,dataset,dataelement,"));
  const parsed = parseMappingsCsv(enc(text));
  assert.deepEqual(parsed.problems, []);
  const checked = validateRows(parsed.rows);
  assert.deepEqual(checked.problems, []);
  assert.deepEqual(checked.mappings.map((m) => m.mapping), sample);
});
