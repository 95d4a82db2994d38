/**
 * Swagger UI's "Token" scheme sends the Authorization header exactly as the user pasted it: an
 * API token as it was shown (`d2gw_…`) must work without the `Token ` word, and with it.
 */
import assert from "node:assert/strict";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest("an API token or access token works with or without its scheme word", async () => {
  const db = await createTestDb("auth_token_as_shown");
  const t = await createTestApp(db);
  try {
    const u = t.users.viewer;
    const jwt = u.headers.bearer.Authorization.slice("Bearer ".length);
    const cases: [string, number][] = [
      [u.apiToken, 200],
      [`Token ${u.apiToken}`, 200],
      [`token   ${u.apiToken}  `, 200],
      // Pasted into the Bearer box: Swagger UI puts "Bearer " in front of an API token.
      [`Bearer ${u.apiToken}`, 200],
      [jwt, 200],
      [`Bearer ${jwt}`, 200],
      // Typed the word twice (Swagger adds one): still the same token.
      [`Token Token ${u.apiToken}`, 200],
      [`Bearer Bearer ${jwt}`, 200],
      ["d2gw_AAAAAAAA_" + "x".repeat(40), 401],
      ["not-a-token", 401],
      [`Basic ${u.apiToken}`, 401],
    ];
    for (const [header, status] of cases) {
      const res = await t.app.request("/api/v3/logs", { headers: { Authorization: header } });
      const body = await res.json();
      assert.equal(res.status, status, `${header.slice(0, 30)}: ${JSON.stringify(body)}`);
    }
  } finally {
    await t.close();
    await db.close();
  }
});
