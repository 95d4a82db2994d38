/**
 * The console's metadata-name cache is bounded (issue 18): every page shows other org units,
 * and an hour's expiry alone let a busy console fill memory with names it would never show
 * again, and with the ids DHIS2 did not know.
 */
import assert from "node:assert/strict";
import type { OrgUnitMeta } from "../dhis2/metadata_types.ts";
import { MetadataNames, type NamesClient } from "./metadata_names.ts";

const uid = (i: number) => `ou${String(i).padStart(9, "0")}`;

/** A DHIS2 that knows the org units below `known` and no others. */
function client(known: number): NamesClient {
  return {
    getDataSet: () => Promise.resolve({ ok: true, value: null, httpStatus: 200, durationMs: 1 }),
    getOrganisationUnits: (keys: string[]) =>
      Promise.resolve({
        ok: true,
        value: keys.filter((k) => Number(k.slice(2)) < known).map((id): OrgUnitMeta => ({
          id,
          name: `Clinic ${id}`,
        })),
        httpStatus: 200,
        durationMs: 1,
      }),
  } as NamesClient;
}

Deno.test("metadata names cap: names and unknown ids each stay within maxEntries", async () => {
  const names = new MetadataNames(client(1000), Date.now, { maxEntries: 50 });
  // 1,000 known org units then 1,000 unknown ones, a page's worth at a time.
  for (let page = 0; page < 40; page++) {
    await names.load({ orgUnits: Array.from({ length: 50 }, (_, i) => uid(page * 50 + i)) });
  }
  assert.deepEqual(names.size, { names: 50, missing: 50 });
  // The newest are kept: the last known page still has its names, the first lost them.
  assert.equal(names.name("orgUnit", uid(999)), "Clinic ou000000999");
  assert.equal(names.name("orgUnit", uid(0)), undefined);
});
