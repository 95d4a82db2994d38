/**
 * The mappings cache is bounded (issue 18): an instance with more rows than `maxRows` is not
 * held in memory; its look-ups read the database (indexed), and answer exactly what the
 * in-memory snapshot would have.
 */
import assert from "node:assert/strict";
import { MappingCache } from "../src/mappings/cache.ts";
import type { MappingInput } from "../src/mappings/model.ts";
import { insertMapping } from "../src/mappings/queries.ts";
import { generateUid } from "../src/dhis2/uid.ts";
import { COC_M, DE1, DE2, OU } from "./support/mappings.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

function mapping(fields: Partial<MappingInput>): MappingInput {
  return {
    code: "ANC1",
    what: "de",
    name: "ANC",
    description: "",
    dataSet: "",
    dataElement: DE1,
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

dbTest(
  "mappings cache cap: past maxRows nothing is held and look-ups read the database",
  async () => {
    const db = await createTestDb("cache_cap");
    try {
      await insertMapping(db.sql, generateUid(), mapping({ code: "ANC1" }));
      await insertMapping(
        db.sql,
        generateUid(),
        mapping({ code: "MAL_M", dataElement: DE2, categoryOptionCombo: COC_M }),
      );
      await insertMapping(db.sql, generateUid(), mapping({ code: "ANC1", sourceName: "hmis" }));
      await insertMapping(
        db.sql,
        generateUid(),
        mapping({ code: "CLINIC", what: "ou", sourceOrgUnit: "CLINIC", destinationOrgUnit: OU }),
      );
      const answers = async (cache: MappingCache) => ({
        de: Object.fromEntries(await cache.resolve("default", ["ANC1", "MAL_M", "NOPE"])),
        hmis: [...(await cache.resolve("hmis", ["MAL_M", "ANC1"])).keys()],
        ou: await cache.resolveOrgUnit("default", "CLINIC"),
        noOu: await cache.resolveOrgUnit("hmis", "CLINIC"),
      });
      const expected = {
        de: { ANC1: { dataElement: DE1 }, MAL_M: { dataElement: DE2, categoryOptionCombo: COC_M } },
        hmis: ["ANC1"],
        ou: OU,
        noOu: null,
      };

      const roomy = new MappingCache(db.sql, { maxRows: 4 });
      await roomy.start();
      assert.equal(roomy.heldRows, 4);
      assert.deepEqual(await answers(roomy), expected);
      await roomy.stop();

      const capped = new MappingCache(db.sql, { maxRows: 3 });
      await capped.start();
      assert.equal(capped.heldRows, 0);
      assert.deepEqual(await answers(capped), expected);
      await capped.stop();
    } finally {
      await db.close();
    }
  },
);
