/**
 * /api/v2 over a real socket (Deno.serve), as an old client reaches it. The in-process tests
 * call app.request with no connection info; under Deno.serve the env is Deno's ServeHandlerInfo,
 * whose getters read private fields, so the forwarded v3 call must not wrap it in a new object.
 */
import assert from "node:assert/strict";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest("/api/v2 over Deno.serve: forwarded routes answer, not 500", async () => {
  const db = await createTestDb("v2_socket");
  const t = await createTestApp(db);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req, info) => t.app.fetch(req, info),
  );
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const token = { Authorization: `Token ${t.users.admin.apiToken}` };
    const logs = await fetch(`${base}/api/v2/logs?_=1`, { headers: token });
    assert.equal(logs.status, 200, await logs.clone().text());
    const page = await logs.json();
    assert.deepEqual([page.total, page.page, page.items], [0, 1, []]);
    const mappings = await fetch(`${base}/api/v2/mappings`, { headers: token });
    assert.equal(mappings.status, 200, await mappings.clone().text());
    assert.deepEqual(await mappings.json(), []);
    // A multipart upload streams through to the v3 route.
    const form = new FormData();
    form.set(
      "file",
      new File([
        "code,what,name,dataset,dataelement,category_option_combo\r\n" +
        "ANC1,de,ANC 1st visit,pBOMPrpg1QX,f7n9E0hX8qk,<nil>\r\n",
      ], "m.csv"),
    );
    const imported = await fetch(`${base}/api/v2/mappings/import/csv`, {
      method: "POST",
      headers: token,
      body: form,
    });
    assert.equal(imported.status, 200, await imported.clone().text());
    const reply = await imported.json();
    assert.deepEqual([reply.total, reply.records[0].code], [1, "ANC1"]);
    // A bad submission is the old 400, not an internal error.
    const bad = await fetch(`${base}/api/v2/aggregate`, {
      method: "POST",
      headers: { ...token, "Content-Type": "application/json" },
      body: JSON.stringify({ orgUnit: "x" }),
    });
    assert.equal(bad.status, 400);
    assert.equal(typeof (await bad.json()).error, "string");
    // The v3 route saw the caller's address: a wrong password through a forwarded route is
    // logged against 127.0.0.1.
    const wrong = await fetch(`${base}/api/v2/logs`, {
      headers: { Authorization: `Basic ${btoa(`${t.users.admin.username}:nope`)}` },
    });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    const failed = t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === "failed login");
    assert.equal(failed?.address, "127.0.0.1");
  } finally {
    await server.shutdown();
    await t.close();
    await db.close();
  }
});
