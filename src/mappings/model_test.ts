import assert from "node:assert/strict";
import { mappingInputSchema, mappingKey } from "./model.ts";

const DE = "fbfJHSPpUQD";
const OU = "DiszpKrYNg8";

function issues(input: unknown): Record<string, string> {
  const r = mappingInputSchema.safeParse(input);
  assert.equal(r.success, false, "expected the input to be refused");
  return Object.fromEntries(r.error!.issues.map((i) => [i.path.join("."), i.message]));
}

Deno.test("schema: defaults, trimming and null become empty strings", () => {
  const m = mappingInputSchema.parse({
    code: " 001 ",
    name: "ANC 1st visit",
    dataElement: DE,
    categoryOptionCombo: null,
    uid: "ignored",
  });
  assert.deepEqual(m, {
    code: "001",
    what: "de",
    name: "ANC 1st visit",
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
  });
});

Deno.test("schema: what is case-insensitive and an empty instance name means default", () => {
  const m = mappingInputSchema.parse({
    code: "A",
    what: " DE ",
    name: "n",
    dataElement: DE,
    instanceName: "  ",
  });
  assert.equal(m.what, "de");
  assert.equal(m.instanceName, "default");
});

Deno.test("schema: a de mapping without code, name and data element names all three", () => {
  assert.deepEqual(issues({ what: "de" }), {
    code: "is required for a data element mapping (what=de)",
    dataElement: "is required for a data element mapping (what=de)",
    name: "is required for a data element mapping (what=de)",
  });
});

Deno.test("schema: every malformed UID is reported with its field", () => {
  const got = issues({
    code: "A",
    name: "n",
    dataElement: "short",
    categoryOptionCombo: "1bcdefghijk",
    attributeOptionCombo: DE,
    dataSet: "fbfJHSPpUQD!",
  });
  assert.deepEqual(Object.keys(got).sort(), ["categoryOptionCombo", "dataElement", "dataSet"]);
  assert.match(got.dataElement, /DHIS2 UID/);
});

Deno.test("schema: an ou mapping fills code and source org unit from each other", () => {
  const bySource = mappingInputSchema.parse({
    what: "ou",
    sourceOrgUnit: "HF-12",
    destinationOrgUnit: OU,
  });
  assert.equal(bySource.code, "HF-12");
  const byCode = mappingInputSchema.parse({ what: "ou", code: "HF-13", destinationOrgUnit: OU });
  assert.equal(byCode.sourceOrgUnit, "HF-13");
  assert.deepEqual(Object.keys(issues({ what: "ou" })).sort(), ["code", "destinationOrgUnit"]);
});

Deno.test("schema: an unknown what and a wrong type are refused by field", () => {
  assert.deepEqual(issues({ what: "tei", code: "A" }), { what: 'must be "de" or "ou", got "tei"' });
  assert.deepEqual(Object.keys(issues({ code: 5, name: "n", dataElement: DE })), ["code"]);
});

Deno.test("mappingKey: equal for the same unique key, different when any part differs", () => {
  const a = { code: "A", sourceName: "default", instanceName: "default", what: "de" };
  assert.equal(mappingKey(a), mappingKey({ ...a }));
  assert.notEqual(mappingKey(a), mappingKey({ ...a, what: "ou" }));
  // A separator inside a value must not make two different keys collide.
  assert.notEqual(
    mappingKey({ ...a, code: "x", sourceName: "y\u0000z" }),
    mappingKey({ ...a, code: "x\u0000y", sourceName: "z" }),
  );
});

Deno.test("schema: a NUL character is refused (PostgreSQL text cannot store it)", () => {
  assert.deepEqual(issues({ code: "A\u0000B", name: "n", dataElement: DE }), {
    code: "contains a NUL character (byte 0x00)",
  });
});
