import assert from "node:assert/strict";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest(
  "GET /api/v3/test2 answers the old service's plain `Authorized` to working credentials",
  async () => {
    const db = await createTestDb("auth_compat");
    const t = await createTestApp(db);
    try {
      for (const scheme of ["token", "basic", "bearer"] as const) {
        const res = await t.app.request("/api/v3/test2", {
          headers: t.users.submitter.headers[scheme],
        });
        assert.equal(res.status, 200, scheme);
        assert.match(res.headers.get("content-type")!, /^text\/plain/);
        assert.equal(await res.text(), "Authorized");
      }
      const anon = await t.app.request("/api/v3/test2");
      assert.equal(anon.status, 401);
      assert.ok(anon.headers.get("www-authenticate"));
      await anon.body?.cancel();
    } finally {
      await t.close();
      await db.close();
    }
  },
);
