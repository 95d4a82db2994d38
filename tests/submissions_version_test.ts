/** POST /api/v3/aggregate checks periods by the target DHIS2's version (reference §12). */
import assert from "node:assert/strict";
import { createTestDb, dbTest } from "./support/pg.ts";
import { body, createSubmissionsApp } from "./support/submissions.ts";

dbTest("intake refuses what the configured DHIS2 version refuses, saying why", async () => {
  const db = await createTestDb("sub_version");
  const legacy = await createSubmissionsApp(db, { DHIS2GW_DHIS2_VERSION: "2.42.1" });
  const current = await createSubmissionsApp(db, { DHIS2GW_DHIS2_VERSION: "2.43.0" });
  try {
    const refused = await legacy.post(body({ ANC1: 1 }, { period: "2024SatW53" }));
    assert.equal(refused.status, 422);
    const reply = await refused.json();
    assert.equal(reply.error.details[0].field, "period");
    assert.equal(
      reply.error.details[0].message,
      '"2024SatW53" is refused by DHIS2 2.38–2.42, which count 52 weeks in 2024 for every weekly type',
    );
    const misfiled = await current.post(body({ ANC1: 1 }, { period: "2021W53" }));
    assert.equal(misfiled.status, 422);
    // 2.38–2.42 would take it as other days: the reply says so, not just "does not exist".
    const overwrite = await legacy.post(body({ ANC1: 1 }, { period: "2021W53" }));
    assert.equal(overwrite.status, 422);
    assert.equal(
      (await overwrite.json()).error.details[0].message,
      '"2021W53" does not exist: 2021 has only 52 such weeks, and DHIS2 2.38–2.42 would file it ' +
        "under 2022-01-03…2022-01-09, the first days of 2022, overwriting that week's data",
    );
    assert.equal((await legacy.post(body({ ANC1: 1 }, { period: "2024FriW5" }))).status, 422);
    assert.equal((await current.post(body({ ANC1: 1 }, { period: "2024SatW53" }))).status, 200);
    assert.equal((await current.post(body({ ANC1: 1 }, { period: "2024FriW5" }))).status, 200);
    const [{ n }] = await db.sql`select count(*)::int as n from submissions`;
    assert.equal(n, 2);
  } finally {
    await legacy.close();
    await current.close();
    await db.close();
  }
});
