/**
 * Refused requests are visible (issue 14 item 4): the request log keeps why (error code,
 * message, field names) and who (the user, or what a 401 claimed, marked unverified), never a
 * secret, and GET /api/v3/requests finds them by username, status, path and time.
 */
import assert from "node:assert/strict";
import { createApp } from "../src/http/app.ts";
import { RequestLogBuffer } from "../src/logs/request_log.ts";
import { pruneRequestLog } from "../src/logs/requests_queries.ts";
import { basicHeader, createTestApp, createTestUser } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest("a refused submission keeps its reason and claimed user; /requests finds it", async () => {
  const db = await createTestDb("refusals");
  const t = await createTestApp(db);
  const requestLog = new RequestLogBuffer(db.sql, t.deps.log);
  const app = createApp({ ...t.deps, requestLog });
  try {
    const clinic = await createTestUser(t, "submitter", { username: "clinic-ngelehun" });
    const post = (headers: Record<string, string>, body: unknown) =>
      app.request("/api/v3/aggregate", {
        method: "POST",
        headers: { ...headers, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    // 401: a wrong password. The claimed username is kept, unverified; the password never.
    const wrong = await post(basicHeader("clinic-ngelehun", "Wrong-Secret-Pw-77"), {});
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    // 401: an API token that does not exist: its public prefix only.
    const fakeToken = "d2gw_AbCdEf12_" + "S".repeat(43);
    const unknown = await post({ Authorization: `Token ${fakeToken}` }, {});
    assert.equal(unknown.status, 401);
    await unknown.body?.cancel();
    // 422: signed in, every bad field named.
    const bad = await post(clinic.headers.token, { orgUnit: "", dataValues: "x" });
    assert.equal(bad.status, 422);
    await bad.body?.cancel();
    await requestLog.flush();

    const get = async (query: string, as = t.users.viewer.headers.token) => {
      const res = await app.request(`/api/v3/requests?${query}`, { headers: as });
      return { status: res.status, body: await res.json() };
    };
    const byUser = await get("username=CLINIC-ngelehun");
    assert.equal(byUser.status, 200);
    assert.equal(byUser.body.total, 2);
    const [newest, oldest] = byUser.body.items;
    assert.deepEqual(
      {
        status: oldest.status,
        method: oldest.method,
        path: oldest.path,
        username: oldest.username,
        identity_verified: oldest.identity_verified,
        user_uid: oldest.user_uid,
        code: oldest.error.code,
      },
      {
        status: 401,
        method: "POST",
        path: "/api/v3/aggregate",
        username: "clinic-ngelehun",
        identity_verified: false,
        user_uid: null,
        code: "unauthorized",
      },
    );
    assert.equal(newest.status, 422);
    assert.equal(newest.identity_verified, true);
    assert.equal(newest.user_uid, clinic.uid);
    assert.equal(newest.error.code, "validation_failed");
    assert.ok(newest.error.fields.includes("orgUnit"), JSON.stringify(newest.error));
    assert.ok(newest.error.fields.length >= 2, "every bad field is named");

    const byStatus = await get("status=401&path=/api/v3/aggregate");
    assert.equal(byStatus.body.total, 2);
    const tokenRow = byStatus.body.items[0];
    assert.equal(tokenRow.token_prefix, "AbCdEf12");
    assert.equal(tokenRow.username, null);
    assert.equal(tokenRow.identity_verified, false);

    const all = JSON.stringify((await db.sql`select * from request_log`).map((r) => r));
    assert.ok(!all.includes("Wrong-Secret-Pw-77"), "no password in the log");
    assert.ok(!all.includes("S".repeat(43)), "no token secret in the log");

    const today = new Date().toISOString().slice(0, 10);
    assert.equal((await get(`status=refused&from=${today}&to=${today}`)).body.total, 3);
    assert.equal((await get("status=refused&to=2000-01-01")).body.total, 0);

    // Every bad parameter at once.
    const invalid = await get("status=teapot&from=2026-02-30&page_size=0&colour=red");
    assert.equal(invalid.status, 422);
    assert.deepEqual(
      invalid.body.error.details.map((d: { field: string }) => d.field).sort(),
      ["colour", "from", "page_size", "status"],
    );
    // Submitters do not read other systems' requests.
    const denied = await app.request("/api/v3/requests", { headers: clinic.headers.token });
    assert.equal(denied.status, 403);
    await denied.body?.cancel();

    // Retention as for submissions.
    await db.sql`update request_log set at = now() - interval '91 days' where status = 401`;
    assert.equal(await pruneRequestLog(db.sql, 90), 2);
    assert.equal(await pruneRequestLog(db.sql, 0), 0);
  } finally {
    await requestLog.close();
    await t.close();
    await db.close();
  }
});
