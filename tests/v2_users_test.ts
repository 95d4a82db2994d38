/**
 * PUT /api/v2/users/:uid as the old service decoded it: Go's encoding/json matches keys without
 * regard to case, so an old client may send back the keys GET gave it (`Username`, `firstname`)
 * or any other casing (`LastName`, `Email`); each must change its field, not be dropped while
 * the reply says "User updated successfully".
 */
import assert from "node:assert/strict";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest("PUT /api/v2/users/:uid reads the old fields in any case", async () => {
  const db = await createTestDb("v2_users");
  const t = await createTestApp(db);
  try {
    const admin = t.users.admin.headers.token;
    const uid = t.users.viewer.uid;
    const name = `renamed_${crypto.randomUUID().slice(0, 6)}`;
    const put = await t.app.request(`/api/v2/users/${uid}`, {
      method: "PUT",
      headers: { ...admin, "Content-Type": "application/json" },
      body: JSON.stringify({
        Username: name,
        FIRSTNAME: "Olga",
        LastName: "Ulu",
        Email: "olga@example.org",
        Telephone: "+256700000001",
      }),
    });
    assert.equal(put.status, 200, await put.clone().text());
    assert.deepEqual(await put.json(), { message: "User updated successfully" });
    const got = await t.app.request(`/api/v2/users/${uid}`, { headers: admin });
    const u = await got.json();
    assert.deepEqual(
      [u.Username, u.firstname, u.lastname, u.email, u.telephone],
      [name, "Olga", "Ulu", "olga@example.org", "+256700000001"],
    );
    // A body that is no JSON object is the old 400, not a silent success.
    const bad = await t.app.request(`/api/v2/users/${uid}`, {
      method: "PUT",
      headers: { ...admin, "Content-Type": "application/json" },
      body: "[1]",
    });
    assert.equal(bad.status, 400);
    assert.equal(typeof (await bad.json()).error, "string");
  } finally {
    await t.close();
    await db.close();
  }
});
