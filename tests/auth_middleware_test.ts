import assert from "node:assert/strict";
import { z } from "@hono/zod-openapi";
import { secureRoute, WWW_AUTHENTICATE } from "../src/auth/guard.ts";
import { signAccessToken } from "../src/auth/jwt.ts";
import { basicHeader, createTestApp, type TestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

/** A probe route that echoes the principal, mounted the way a domain router is. */
function withProbe(t: TestApp) {
  const probe = secureRoute({
    method: "get",
    path: "/api/v3/probe",
    roles: ["admin", "submitter", "viewer"],
    responses: {
      200: {
        description: "who",
        content: { "application/json": { schema: z.object({}).passthrough() } },
      },
    },
  });
  t.app.openapi(probe, (c) => c.json({ ...c.get("principal")! }, 200));
  return t;
}

dbTest(
  "every scheme resolves each role's principal; bad or missing credentials are 401",
  async () => {
    const db = await createTestDb("auth_mw");
    const t = withProbe(await createTestApp(db));
    try {
      for (const role of ["admin", "submitter", "viewer"] as const) {
        const u = t.users[role];
        for (const scheme of ["bearer", "token", "basic"] as const) {
          const res = await t.app.request("/api/v3/probe", { headers: u.headers[scheme] });
          assert.equal(res.status, 200, `${role} ${scheme}`);
          const p = await res.json();
          assert.deepEqual(
            { uid: p.uid, role: p.role, via: p.via, sourceName: p.sourceName },
            { uid: u.uid, role, via: scheme, sourceName: "default" },
          );
          assert.equal(p.tokenId, scheme === "token" ? u.apiTokenId : undefined);
        }
      }
      const bad: Array<Record<string, string>> = [
        {},
        { Authorization: "Bearer nope" },
        { Authorization: "Token d2gw_AAAAAAAA_" + "x".repeat(40) },
        { Authorization: "Token 0123" },
        { Authorization: "Basic !!!" },
        { Authorization: "Basic " + btoa("no-colon") },
        basicHeader(t.users.viewer.username, "wrong-password-1"),
        { Authorization: "Digest abc" },
      ];
      for (const headers of bad) {
        const res = await t.app.request("/api/v3/probe", { headers });
        assert.equal(res.status, 401, JSON.stringify(headers));
        assert.equal(res.headers.get("www-authenticate"), WWW_AUTHENTICATE);
        const body = await res.json();
        assert.equal(body.error.code, "unauthorized");
      }
      // Old clients put what getToken gave them (a JWT now) in a Token header: still accepted.
      const jwtAsToken = t.users.viewer.headers.bearer.Authorization.replace("Bearer", "Token");
      const old = await t.app.request("/api/v3/probe", { headers: { Authorization: jwtAsToken } });
      assert.equal(old.status, 200);
      assert.equal((await old.json()).uid, t.users.viewer.uid);

      // An expired access token is refused, with a message telling the client to refresh.
      const { token } = await signAccessToken(
        t.deps.auth.key,
        { sub: t.users.admin.uid, username: t.users.admin.username, role: "admin" },
        60,
        new Date(Date.now() - 3600_000),
      );
      const expired = await t.app.request("/api/v3/probe", {
        headers: { Authorization: `Bearer ${token}` },
      });
      assert.equal(expired.status, 401);
      assert.match((await expired.json()).error.message, /access token expired/);
    } finally {
      await t.close();
      await db.close();
    }
  },
);

dbTest("a token's source_name overrides the user's; a deactivated user is refused", async () => {
  const db = await createTestDb("auth_mw_source");
  const t = withProbe(await createTestApp(db, { env: { DHIS2GW_CREDENTIAL_CACHE_TTL: "0" } }));
  try {
    const u = t.users.submitter;
    await db.sql`update users set source_name = 'district_a' where id = ${u.id}`;
    let p = await (await t.app.request("/api/v3/probe", { headers: u.headers.basic })).json();
    assert.equal(p.sourceName, "district_a");
    await db.sql`update api_tokens set source_name = 'lab_b' where id = ${u.apiTokenId}`;
    p = await (await t.app.request("/api/v3/probe", { headers: u.headers.token })).json();
    assert.equal(p.sourceName, "lab_b");
    await db.sql`update users set is_active = false where id = ${u.id}`;
    for (const scheme of ["bearer", "token", "basic"] as const) {
      const res = await t.app.request("/api/v3/probe", { headers: u.headers[scheme] });
      assert.equal(res.status, 401, scheme);
      assert.match((await res.json()).error.message, /deactivated/);
    }
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("concurrent requests with the same new credential verify it once", async () => {
  const db = await createTestDb("auth_mw_flight");
  const t = withProbe(await createTestApp(db));
  try {
    const headers = basicHeader(t.users.viewer.username, "not-the-password-1");
    const results = await Promise.all(
      Array.from({ length: 16 }, () => t.app.request("/api/v3/probe", { headers })),
    );
    assert.deepEqual(results.map((r) => r.status), Array(16).fill(401));
    const rows = await db.sql`select kind, failures from login_throttle order by kind`;
    assert.deepEqual(rows.map((r) => [r.kind, r.failures]), [["address", 1], ["username", 1]]);
  } finally {
    await t.close();
    await db.close();
  }
});
