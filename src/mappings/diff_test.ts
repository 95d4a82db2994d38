import assert from "node:assert/strict";
import { type FileRow, planImport, scopesOf, type StoredRow } from "./diff.ts";
import type { MappingField, MappingInput } from "./model.ts";

const DE = "fbfJHSPpUQD";
const DE2 = "cYeuwXTCPkU";
const OU = "DiszpKrYNg8";

function m(fields: Partial<MappingInput>): MappingInput {
  return {
    code: "A",
    what: "de",
    name: "a",
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
    ...fields,
  };
}

const ALL = new Set<MappingField>([
  "code",
  "what",
  "name",
  "description",
  "dataSet",
  "dataElement",
  "categoryOptionCombo",
  "attributeOptionCombo",
  "categoryOption",
  "categoryCombo",
  "instanceName",
  "sourceName",
  "sourceOrgUnit",
  "destinationOrgUnit",
]);

const file = (row: number, fields: Partial<MappingInput>, present = ALL): FileRow => ({
  row,
  mapping: m(fields),
  present,
});
const stored = (uid: string, fields: Partial<MappingInput>): StoredRow => ({
  uid,
  mapping: m(fields),
});

Deno.test("plan: new rows are created, changed ones updated with their uid, equal ones left", () => {
  const plan = planImport(
    [file(2, { code: "A" }), file(3, { code: "B", name: "b2" }), file(4, { code: "C" })],
    [stored("uidA0000000", { code: "A" }), stored("uidB0000000", { code: "B", name: "b" })],
    "upsert",
  );
  assert.deepEqual(
    [plan.created, plan.updated, plan.unchanged, plan.deletes.length],
    [1, 1, 1, 0],
  );
  assert.deepEqual(plan.writes.map((w) => [w.row, w.created, w.mapping.code]), [
    [3, false, "B"],
    [4, true, "C"],
  ]);
  assert.equal(plan.writes[0].uid, "uidB0000000");
  assert.match(plan.writes[1].uid, /^[a-zA-Z][a-zA-Z0-9]{10}$/);
  assert.deepEqual(plan.problems, []);
});

Deno.test("plan: columns the file lacks keep their stored values; empty cells it has clear them", () => {
  const narrow = new Set<MappingField>(["code", "name", "dataElement"]);
  const plan = planImport(
    [file(2, { code: "A", name: "renamed" }, narrow), file(3, { code: "B" }, narrow)],
    [
      stored("uidA0000000", { code: "A", description: "kept", categoryOptionCombo: DE2 }),
      stored("uidB0000000", { code: "B", description: "kept too" }),
    ],
    "upsert",
  );
  assert.equal(plan.updated, 1);
  assert.equal(plan.unchanged, 1, "B differs only in a column the file does not have");
  assert.deepEqual(
    plan.writes[0].mapping,
    m({
      code: "A",
      name: "renamed",
      description: "kept",
      categoryOptionCombo: DE2,
    }),
  );

  const cleared = planImport(
    [file(2, { code: "A", description: "" })],
    [stored("uidA0000000", { code: "A", description: "old" })],
    "upsert",
  );
  assert.equal(cleared.writes[0].mapping.description, "");
});

Deno.test("plan: replace deletes absent rows of the file's scopes only", () => {
  const plan = planImport(
    [file(2, { code: "A", sourceName: "hmis" })],
    [
      stored("keep0000001", { code: "A", sourceName: "hmis" }),
      stored("gone0000001", { code: "B", sourceName: "hmis" }),
      stored("gone0000002", { code: "C", sourceName: "hmis", what: "ou", destinationOrgUnit: OU }),
      stored("other000001", { code: "B", sourceName: "hmis", instanceName: "training" }),
      stored("other000002", { code: "B", sourceName: "lab" }),
    ],
    "replace",
  );
  assert.deepEqual(plan.deletes, ["gone0000001", "gone0000002"]);
  assert.equal(plan.unchanged, 1);
  const upsert = planImport([file(2, { code: "A", sourceName: "hmis" })], [
    stored("gone0000001", { code: "B", sourceName: "hmis" }),
  ], "upsert");
  assert.deepEqual(upsert.deletes, [], "upsert never deletes");
});

Deno.test("plan: one source org unit per scope, against stored rows and within the file", () => {
  const ou = (code: string, sourceOrgUnit: string) => ({
    code,
    what: "ou" as const,
    dataElement: "",
    sourceOrgUnit,
    destinationOrgUnit: OU,
  });
  const held = [stored("holder00001", ou("NG", "NGELEHUN"))];
  const clash = planImport([file(2, ou("NG2", "NGELEHUN"))], held, "upsert");
  assert.deepEqual(clash.problems, [{
    row: 2,
    column: "source_orgunit",
    value: "NGELEHUN",
    message: 'source org unit "NGELEHUN" is already mapped by stored mapping holder00001 ' +
      '(code "NG"); one source org unit can lead to one org unit only',
  }]);
  // Replace removes the holder first, so the file's row may take it.
  assert.deepEqual(planImport([file(2, ou("NG2", "NGELEHUN"))], held, "replace").problems, []);
  // The holder itself, re-imported, is no clash; another scope is another slot.
  assert.deepEqual(planImport([file(2, ou("NG", "NGELEHUN"))], held, "upsert").problems, []);
  assert.deepEqual(
    planImport([file(2, { ...ou("NG2", "NGELEHUN"), sourceName: "lab" })], held, "upsert")
      .problems,
    [],
  );
  const inFile = planImport([file(2, ou("X", "BO")), file(5, ou("Y", "BO"))], [], "upsert");
  assert.deepEqual(inFile.problems.map((p) => [p.row, p.message.split(";")[0]]), [
    [5, 'source org unit "BO" is already mapped by row 2'],
  ]);
});

Deno.test("scopes: each (source, instance) pair once, in file order", () => {
  assert.deepEqual(
    scopesOf([
      { mapping: m({ sourceName: "b" }) },
      { mapping: m({ sourceName: "a" }) },
      { mapping: m({ sourceName: "b" }) },
      { mapping: m({ sourceName: "b", instanceName: "t" }) },
    ]),
    [
      { source: "b", instance: "default" },
      { source: "a", instance: "default" },
      { source: "b", instance: "t" },
    ],
  );
});
