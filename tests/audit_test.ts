/**
 * The audit trail (issue 14 item 5): admin actions through the API (the console calls the
 * same API) are recorded with who, what, target, filter and counts, never a secret; the table
 * refuses UPDATE, DELETE and TRUNCATE; GET /api/v3/audit filters and counts; CSV export.
 */
import assert from "node:assert/strict";
import { parse } from "csv-parse/sync";
import { createTestApp } from "./support/app.ts";
import { DE1, DE2, DS } from "./support/mappings.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest("admin actions are recorded, listed, counted and exported; failures are not", async () => {
  const db = await createTestDb("audit");
  const t = await createTestApp(db);
  try {
    const admin = t.users.admin;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await t.app.request(`/api/v3${path}`, {
        method,
        headers: { ...admin.headers.basic, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    };
    const m = await call("POST", "/mappings", {
      code: "ANC1",
      name: "ANC",
      dataElement: DE1,
      dataSet: DS,
    });
    assert.equal(m.status, 201);
    assert.equal((await call("PUT", `/mappings/${m.body.uid}`, { dataElement: DE2 })).status, 200);
    assert.equal((await call("DELETE", `/mappings/${m.body.uid}`)).status, 200);
    const u = await call("POST", "/users", {
      username: "hmis-bridge",
      password: "Bridge-Password-2026!",
      role: "submitter",
    });
    assert.equal(u.status, 201, JSON.stringify(u.body));
    const tok = await call("POST", `/users/${u.body.uid}/tokens`, { name: "bridge" });
    assert.equal(tok.status, 201, JSON.stringify(tok.body));
    const purge = await call("DELETE", "/logs/purge?date=2024-03-02");
    assert.equal(purge.status, 200);
    const requeue = await call("POST", "/logs/requeue", { filter: { status: "dead" } });
    assert.equal(requeue.status, 200, JSON.stringify(requeue.body));
    // Refused actions change nothing and are not in the trail (the request log has them).
    assert.equal((await call("DELETE", "/logs/purge")).status, 422);
    assert.equal((await call("DELETE", "/mappings/NoSuchUid01")).status, 404);

    const list = await call("GET", "/audit");
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items.map((i: { action: string }) => i.action).reverse(), [
      "mapping.create",
      "mapping.update",
      "mapping.delete",
      "user.create",
      "token.create",
      "submissions.purge",
      "submissions.requeue",
    ]);
    assert.equal(list.body.total, 7);
    assert.deepEqual(list.body.by_action, {
      "mapping.create": 1,
      "mapping.delete": 1,
      "mapping.update": 1,
      "submissions.purge": 1,
      "submissions.requeue": 1,
      "token.create": 1,
      "user.create": 1,
    });
    const byAction = Object.fromEntries(
      list.body.items.map((i: { action: string }) => [i.action, i]),
    );
    assert.equal(byAction["mapping.update"].target, m.body.uid);
    assert.equal(byAction["mapping.update"].actor_username, admin.username);
    assert.equal(byAction["mapping.update"].via, "api");
    assert.deepEqual(byAction["submissions.purge"].details.query, { date: "2024-03-02" });
    assert.equal(typeof byAction["submissions.purge"].details.result.deleted, "number");
    assert.deepEqual(byAction["submissions.requeue"].details.selection, {
      filter: { status: "dead" },
    });
    assert.equal(byAction["submissions.requeue"].details.result.matched, 0);
    assert.equal(byAction["user.create"].target, u.body.uid);
    assert.equal(byAction["user.create"].details.result.username, "hmis-bridge");
    assert.equal(byAction["token.create"].target, u.body.uid);
    const everything = JSON.stringify(list.body);
    assert.ok(!everything.includes(tok.body.token), "the new token is not in the trail");
    assert.ok(!everything.includes("Bridge-Password-2026!"), "nor the password");

    const mappingsOnly = await call(
      "GET",
      `/audit?action=mapping.&actor=${admin.username.toUpperCase()}`,
    );
    assert.equal(mappingsOnly.body.total, 3);
    const none = await call("GET", "/audit?to=2000-01-01");
    assert.equal(none.body.total, 0);
    const bad = await call("GET", "/audit?who=me&from=yesterday");
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.error.details.map((d: { field: string }) => d.field).sort(), [
      "from",
      "who",
    ]);
    const viewer = await t.app.request("/api/v3/audit", { headers: t.users.viewer.headers.token });
    assert.equal(viewer.status, 403);
    await viewer.body?.cancel();

    const csvRes = await t.app.request("/api/v3/audit/export.csv?action=mapping.", {
      headers: admin.headers.token,
    });
    assert.equal(csvRes.status, 200);
    assert.match(csvRes.headers.get("content-type") ?? "", /^text\/csv/);
    const rows = parse(await csvRes.text(), { columns: true }) as Record<string, string>[];
    assert.deepEqual(rows.map((r) => r.action), [
      "mapping.create",
      "mapping.update",
      "mapping.delete",
    ]);
    assert.equal(rows[1].target, m.body.uid);

    // Append-only, for the application's own connection too.
    for (
      const statement of [
        db.sql`update audit_log set actor_username = 'someone-else'`,
        db.sql`delete from audit_log`,
        db.sql`truncate audit_log`,
      ]
    ) {
      await assert.rejects(statement, (err: { code?: string; message: string }) => {
        assert.equal(err.code, "42501");
        assert.match(err.message, /audit_log is append-only/);
        return true;
      });
    }
    assert.equal((await db.sql`select count(*)::int as n from audit_log`)[0].n, 7);
  } finally {
    await t.close();
    await db.close();
  }
});
