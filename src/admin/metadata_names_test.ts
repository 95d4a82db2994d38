import assert from "node:assert/strict";
import type { Dhis2Read } from "../dhis2/client.ts";
import type { DataSetMeta, OrgUnitMeta } from "../dhis2/metadata_types.ts";
import { MetadataNames, type NamesClient } from "./metadata_names.ts";

const ok = <T>(value: T): Dhis2Read<T> => ({ ok: true, value, httpStatus: 200, durationMs: 1 });
const OU: OrgUnitMeta = { id: "DiszpKrYNg8", code: "OU_559", name: "Ngelehun CHC" };
const DS: DataSetMeta = {
  id: "pBOMPrpg1QX",
  code: "HMIS_MONTHLY",
  name: "Monthly HMIS",
  dataSetElements: [{ dataElement: { id: "f7n9E0hX8qk", code: "ANC1", name: "ANC 1st visit" } }],
};

function fakeClient(calls: string[], up = { value: true }): NamesClient {
  return {
    getDataSet: (id) => {
      calls.push(`ds ${id}`);
      return Promise.resolve(
        up.value ? ok(id === DS.id ? DS : null) : { ok: false, error: "down", durationMs: 1 },
      );
    },
    getOrganisationUnits: (keys, by = "id") => {
      calls.push(`ou ${by} ${keys.join(",")}`);
      if (!up.value) return Promise.resolve({ ok: false, error: "down", durationMs: 1 });
      return Promise.resolve(ok(keys.includes(by === "id" ? OU.id : OU.code!) ? [OU] : []));
    },
  } as NamesClient;
}

Deno.test("names come from one snapshot per data set and one request per org unit batch", async () => {
  const calls: string[] = [];
  const names = new MetadataNames(fakeClient(calls));
  await names.load({ dataSets: [DS.id, DS.id], orgUnits: [OU.id, "ouUnknown01"] });
  assert.equal(names.name("dataSet", DS.id), "Monthly HMIS");
  assert.equal(names.name("dataElement", "f7n9E0hX8qk"), "ANC 1st visit");
  assert.equal(names.name("orgUnit", OU.id), "Ngelehun CHC");
  assert.equal(names.name("orgUnit", "ouUnknown01"), undefined);
  // Cached, and the unknown one is not asked for again.
  await names.load({ dataSets: [DS.id], orgUnits: [OU.id, "ouUnknown01"] });
  assert.deepEqual(calls, [`ds ${DS.id}`, `ou id ${OU.id},ouUnknown01`]);
});

Deno.test("a filter's name or code becomes the UID; DHIS2 is asked for org unit codes", async () => {
  const calls: string[] = [];
  const names = new MetadataNames(fakeClient(calls));
  await names.load({ dataSets: [DS.id] });
  assert.equal(await names.resolve("dataSet", "monthly hmis"), DS.id);
  assert.equal(await names.resolve("dataSet", "HMIS_MONTHLY"), DS.id);
  assert.equal(names.resolveCached("dataElement", "anc1"), "f7n9E0hX8qk");
  assert.equal(await names.resolve("dataSet", "pBOMPrpg1QX"), DS.id);
  assert.equal(await names.resolve("orgUnit", "OU_559"), OU.id);
  assert.equal(await names.resolve("orgUnit", "Ngelehun CHC"), OU.id, "now cached by name");
  assert.equal(await names.resolve("orgUnit", "nowhere"), "nowhere");
  assert.deepEqual(calls, [`ds ${DS.id}`, "ou code OU_559", "ou code nowhere"]);
});

Deno.test("a DHIS2 that does not answer costs one try a minute, and pages show bare UIDs", async () => {
  const calls: string[] = [];
  const up = { value: false };
  let now = 0;
  const names = new MetadataNames(fakeClient(calls, up), () => now);
  await names.load({ dataSets: [DS.id] });
  await names.load({ dataSets: [DS.id], orgUnits: [OU.id] });
  assert.equal(await names.resolve("orgUnit", "OU_559"), "OU_559");
  assert.deepEqual(calls, [`ds ${DS.id}`]);
  up.value = true;
  now = 61_000;
  await names.load({ dataSets: [DS.id] });
  assert.equal(names.name("dataSet", DS.id), "Monthly HMIS");
});

Deno.test("without a DHIS2 there are no names and filters pass through", async () => {
  const names = new MetadataNames(null);
  await names.load({ dataSets: [DS.id] });
  assert.equal(names.name("dataSet", DS.id), undefined);
  assert.equal(await names.resolve("orgUnit", "OU_559"), "OU_559");
});
