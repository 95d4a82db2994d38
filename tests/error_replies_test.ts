/**
 * Error replies an integrator can act on (issue 14 item 11): a 413 names the limit, a long
 * list of problems is capped with a count of the rest, every field's problem comes at once,
 * purge without a date says what it needs, and mappings for an instance with no configured
 * destination are flagged at import.
 */
import assert from "node:assert/strict";
import { createTestApp } from "./support/app.ts";
import { csv, DE1, DS, upload } from "./support/mappings.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest(
  "413 names the limit; 5,000 unmapped codes give a short reply; all fields at once",
  async () => {
    const db = await createTestDb("error_replies");
    const t = await createTestApp(db, {
      env: { DHIS2GW_BODY_LIMIT: "200000", DHIS2GW_DHIS2_BASE_URL: "http://127.0.0.1:9" },
    });
    try {
      const post = (body: string) =>
        t.app.request("/api/v3/aggregate", {
          method: "POST",
          headers: { ...t.users.submitter.headers.token, "Content-Type": "application/json" },
          body,
        });
      const big = await post(JSON.stringify({ pad: "x".repeat(200_001) }));
      assert.equal(big.status, 413);
      assert.equal(
        (await big.json()).error.message,
        "request body is larger than the limit of 200000 bytes (server.body_limit)",
      );

      const codes = Array.from({ length: 5000 }, (_, i) => `UNMAPPED_CODE_${i}`);
      const many = await post(JSON.stringify({
        orgUnit: "DiszpKrYNg8",
        period: "202401",
        dataSet: DS,
        dataValues: Object.fromEntries(codes.map((c) => [c, 1])),
      }));
      assert.equal(many.status, 422);
      const text = await many.text();
      assert.ok(text.length < 20_000, `reply is ${text.length} bytes`);
      const { error } = JSON.parse(text);
      assert.equal(error.details.length, 100);
      assert.equal(error.omitted, 4900);
      assert.match(error.message, /^unmapped codes: UNMAPPED_CODE_0, UNMAPPED_CODE_1, /);
      assert.match(error.message, /, … and 4980 more$/);

      // A bad period does not hide an unmapped code, an unmapped org unit, nor a bad value.
      const mixed = await post(JSON.stringify({
        orgUnit: "NOWHERE",
        period: "2024-13",
        dataSet: DS,
        dataValues: { NOPE: 1, [DE1]: { nested: true } },
      }));
      assert.equal(mixed.status, 422);
      const fields = (await mixed.json()).error.details.map((d: { field: string }) => d.field);
      assert.deepEqual(
        fields.sort(),
        [
          "dataValues.NOPE",
          `dataValues.${DE1}`,
          "orgUnit",
          "period",
        ].sort(),
      );

      const purge = await t.app.request("/api/v3/logs/purge", {
        method: "DELETE",
        headers: t.users.admin.headers.token,
      });
      assert.equal(purge.status, 422);
      const purgeError = (await purge.json()).error;
      assert.deepEqual(purgeError.details.map((d: { field: string }) => d.field), ["date"]);
      assert.match(
        purgeError.message,
        /^invalid request: date: is required: submissions created before this day \(YYYY-MM-DD/,
      );

      // Mappings for an instance with no configured destination: imported, and flagged.
      const res = await upload(
        t,
        "csv",
        csv([
          "code,what,name,dataset,dataelement,category_option_combo,instance_name",
          `A1,de,a,${DS},${DE1},,`,
          `B1,de,b,${DS},${DE1},,regional-hq`,
          `B2,de,b,${DS},deMalCases1,,regional-hq`,
        ]),
      );
      assert.equal(res.status, 200);
      const report = await res.json();
      assert.equal(report.created, 3);
      assert.deepEqual(report.warnings, [
        '2 mappings are for instance "regional-hq", which has no configured destination ' +
        "(configured: default); submissions will not use them",
      ]);
    } finally {
      await t.close();
      await db.close();
    }
  },
);
