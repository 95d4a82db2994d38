import assert from "node:assert/strict";
import type { ParsedRow } from "./formats.ts";
import { type MetadataSnapshot, validateAgainstMetadata, validateRows } from "./validate.ts";

const DE1 = "fbfJHSPpUQD";
const DE2 = "cYeuwXTCPkU";
const COC = "Prlt0C1RF0s";
const AOC = "HllvX50cXC0";
const DS = "pBOMPrpg1QX";
const OU = "DiszpKrYNg8";

const de = (row: number, code: string, extra: ParsedRow["fields"] = {}): ParsedRow => ({
  row,
  fields: { code, name: `n ${code}`, dataElement: DE1, ...extra },
});

Deno.test("validate: a good file yields normalised mappings and no problems", () => {
  const r = validateRows([
    de(2, " A "),
    { row: 3, fields: { what: "OU", sourceOrgUnit: "HF1", destinationOrgUnit: OU } },
  ]);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.mappings.map((m) => [m.row, m.mapping.code, m.mapping.what]), [
    [2, "A", "de"],
    [3, "HF1", "ou"],
  ]);
  assert.equal(r.mappings[0].mapping.instanceName, "default");
});

Deno.test("validate: problems carry row, header name and the cell as written", () => {
  const r = validateRows([
    { row: 4, fields: { code: "A", what: "xx" } },
    de(5, "B", { dataElement: "", categoryOptionCombo: " bad uid " }),
    { row: 6, fields: { what: "ou", destinationOrgUnit: "nope" } },
  ]);
  assert.deepEqual(r.problems, [
    { row: 4, column: "what", value: "xx", message: 'must be "de" or "ou", got "xx"' },
    {
      row: 5,
      column: "dataelement",
      value: "",
      message: "is required for a data element mapping (what=de)",
    },
    {
      row: 5,
      column: "category_option_combo",
      value: " bad uid ",
      message: "must be a DHIS2 UID (11 characters: a letter, then 10 letters or digits)",
    },
    {
      row: 6,
      column: "code",
      value: "",
      message: "is required for an org unit mapping (what=ou), unless the source org unit is set",
    },
    {
      row: 6,
      column: "destination_orgunit",
      value: "nope",
      message: "must be a DHIS2 UID (11 characters: a letter, then 10 letters or digits)",
    },
  ]);
  assert.deepEqual(r.mappings, []);
});

Deno.test("validate: a duplicate names both rows, each pointing at the other", () => {
  const r = validateRows([de(3, "A"), de(5, "B"), de(7, "A"), de(8, "A", { what: "ou" })]);
  assert.deepEqual(r.problems, [
    {
      row: 3,
      column: "code",
      value: "A",
      message: "duplicate of row 7 (same code, source_name, instance_name, what)",
    },
    {
      row: 7,
      column: "code",
      value: "A",
      message: "duplicate of row 3 (same code, source_name, instance_name, what)",
    },
    // Row 8 is what=ou (and invalid as such), a different key: not a duplicate.
    {
      row: 8,
      column: "destination_orgunit",
      value: "",
      message: "is required for an org unit mapping (what=ou)",
    },
  ]);
  assert.deepEqual(r.mappings.map((m) => m.row), [5]);
});

Deno.test("validate: source and instance name are part of the key, 'default' filled in", () => {
  const r = validateRows([
    de(2, "A"),
    de(3, "A", { sourceName: "pbs" }),
    de(4, "A", { instanceName: "default" }),
  ]);
  assert.deepEqual(r.problems.map((p) => [p.row, p.message.slice(0, 20)]), [
    [2, "duplicate of row 4 ("],
    [4, "duplicate of row 2 ("],
  ]);
});

Deno.test("validate: many copies of one row name at most ten others", () => {
  const rows = Array.from({ length: 30 }, (_, i) => de(i + 2, "A"));
  const r = validateRows(rows);
  assert.equal(r.problems.length, 30);
  assert.equal(
    r.problems[0].message,
    "duplicate of rows 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 and 19 more " +
      "(same code, source_name, instance_name, what)",
  );
});

const snapshot: MetadataSnapshot = {
  dataElements: new Map([
    [DE1, { categoryComboOptionCombos: new Set([COC]) }],
    [DE2, { categoryComboOptionCombos: new Set() }],
  ]),
  dataSets: new Map([[DS, {
    dataElements: new Set([DE1]),
    attributeOptionCombos: new Set([AOC]),
  }]]),
  orgUnits: new Set([OU]),
};

function valid(fields: ParsedRow["fields"]) {
  const r = validateRows([{ row: 2, fields: { code: "A", name: "n", ...fields } }]);
  assert.deepEqual(r.problems, []);
  return r.mappings;
}

Deno.test("metadata: a mapping that fits DHIS2 passes", () => {
  const rows = [
    ...valid({
      dataElement: DE1,
      categoryOptionCombo: COC,
      dataSet: DS,
      attributeOptionCombo: AOC,
    }),
    ...valid({ dataElement: DE1, attributeOptionCombo: AOC }),
    ...valid({ what: "ou", destinationOrgUnit: OU }),
  ];
  assert.deepEqual(validateAgainstMetadata(rows, snapshot), []);
});

Deno.test("metadata: each mismatch is reported on its column", () => {
  const check = (fields: ParsedRow["fields"]) =>
    validateAgainstMetadata(valid(fields), snapshot).map((p) => `${p.column}: ${p.message}`);
  assert.deepEqual(check({ dataElement: "aaaaaaaaaaa" }), [
    "dataelement: no such data element in DHIS2",
  ]);
  assert.deepEqual(check({ dataElement: DE1, categoryOptionCombo: "bbbbbbbbbbb" }), [
    `category_option_combo: is not an option combo of data element ${DE1}'s category combo`,
  ]);
  assert.deepEqual(check({ dataElement: DE2, dataSet: DS, attributeOptionCombo: "ccccccccccc" }), [
    `dataelement: is not in data set ${DS}`,
    `attribute_option_combo: is not an attribute option combo of data set ${DS}`,
  ]);
  assert.deepEqual(check({ dataElement: DE1, dataSet: "ddddddddddd" }), [
    "dataset: no such data set in DHIS2",
  ]);
  assert.deepEqual(check({ dataElement: DE1, attributeOptionCombo: "fffffffffff" }), [
    `attribute_option_combo: is not an attribute option combo of any data set holding data element ${DE1}`,
  ]);
  // No data set of the snapshot holds DE2: the snapshot may hold only the data sets a file
  // names, so its AOC cannot be judged and is let through.
  assert.deepEqual(check({ dataElement: DE2, attributeOptionCombo: AOC }), []);
  assert.deepEqual(check({ what: "ou", destinationOrgUnit: "eeeeeeeeeee" }), [
    "destination_orgunit: no such org unit in DHIS2",
  ]);
});
