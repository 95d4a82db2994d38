/**
 * An instance with more mappings than the cache holds reads each submission's codes from the
 * database (mappings/cache.ts): that look-up is one prepared statement whatever the number of
 * codes. `code in (${list})` was a new statement text per list length, each kept by
 * postgres.js and by the server session (issue 18's soak looked for what grows).
 */
import assert from "node:assert/strict";
import { connect } from "../src/db/db.ts";
import { generateUid } from "../src/dhis2/uid.ts";
import { MappingCache } from "../src/mappings/cache.ts";
import { insertMapping } from "../src/mappings/queries.ts";
import { DE1 } from "./support/mappings.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest("mappings look-up past the cache: one statement for any number of codes", async () => {
  const db = await createTestDb("lookup_statements");
  // One connection: pg_prepared_statements is per session.
  const sql = connect({ url: db.url, max: 1 });
  try {
    for (let i = 0; i < 12; i++) {
      await insertMapping(db.sql, generateUid(), {
        code: `C${i}`,
        what: "de",
        name: `code ${i}`,
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
      });
    }
    const cache = new MappingCache(sql, { maxRows: 1 });
    await cache.start();
    assert.equal(cache.heldRows, 0);
    for (let n = 1; n <= 12; n++) {
      const codes = [...Array.from({ length: n }, (_, i) => `C${i}`), "UNKNOWN"];
      const found = await cache.resolve("default", codes);
      assert.deepEqual([...found.keys()], codes.slice(0, n));
    }
    await cache.stop();
    const [{ n }] = await sql`
      select count(*)::int as n from pg_prepared_statements
      where statement ~ 'and code (in|= any)' and statement !~ 'pg_prepared_statements'`;
    assert.equal(n, 1);
  } finally {
    await sql.end({ timeout: 1 });
    await db.close();
  }
});
