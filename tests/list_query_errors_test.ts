/**
 * Every list route words a bad query parameter the same way: a 422 in the error envelope that
 * names each bad or unknown parameter and says what it takes, never a validator's own wording.
 */
import assert from "node:assert/strict";
import { createTestApp, type TestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

interface Problem {
  field: string;
  message: string;
}

async function problems(t: TestApp, path: string) {
  const res = await t.app.request(path, { headers: t.users.admin.headers.token });
  const body = await res.json();
  assert.equal(res.status, 422, `${path}: ${JSON.stringify(body)}`);
  assert.equal(body.error.code, "validation_failed");
  const details = body.error.details as Problem[];
  // The message lists the same problems, for a person reading only it.
  for (const d of details) assert.ok(body.error.message.includes(`${d.field}: ${d.message}`));
  return Object.fromEntries(details.map((d) => [d.field, d.message]));
}

const WHOLE = (max: number) => `must be a whole number from 1 to ${max}`;
const ZOD_WORDING = /Invalid input|Invalid option|Too (big|small)|expected|Unrecognized/;

dbTest("a bad page on any list route is named with what it takes", async () => {
  const db = await createTestDb("list_query_errors_page");
  const t = await createTestApp(db);
  try {
    for (
      const path of [
        "/api/v3/users",
        "/api/v3/mappings",
        "/api/v3/logs",
        "/api/v3/requests",
        "/api/v3/audit",
      ]
    ) {
      const p = await problems(t, `${path}?page=x`);
      assert.deepEqual(p, { page: WHOLE(1_000_000) }, path);
    }
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("/api/v3/users names every bad parameter at once, in plain words", async () => {
  const db = await createTestDb("list_query_errors_users");
  const t = await createTestApp(db);
  try {
    const p = await problems(
      t,
      "/api/v3/users?page=1.5&page_size=9999&is_active=maybe&is_admin=2&role=boss&bogus=1",
    );
    assert.deepEqual(p, {
      bogus: "unknown parameter; known: uid, username, email, is_active, is_admin, role",
      is_active: "must be true, false, 1 or 0",
      is_admin: "must be true, false, 1 or 0",
      role: "must be one of admin, submitter, viewer",
      page: WHOLE(1_000_000),
      page_size: WHOLE(500),
    });
    // Empty values are as if absent, as on the other list routes.
    const ok = await t.app.request("/api/v3/users?page=&page_size=&role=", {
      headers: t.users.admin.headers.token,
    });
    const body = await ok.json();
    assert.equal(ok.status, 200, JSON.stringify(body));
    assert.equal(body.total, 3);
    assert.equal(body.page_size, 20);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("/api/v3/mappings and its exports name every bad parameter in plain words", async () => {
  const db = await createTestDb("list_query_errors_mappings");
  const t = await createTestApp(db);
  try {
    const p = await problems(t, "/api/v3/mappings?page=0&page_size=5000&what=zz&bogus=1");
    assert.deepEqual(Object.keys(p).sort(), ["bogus", "page", "page_size", "what"]);
    assert.match(p.bogus, /^unknown parameter; known: uid, code, what, name, /);
    assert.equal(p.what, "must be one of de, ou");
    assert.equal(p.page, WHOLE(1_000_000));
    assert.equal(p.page_size, WHOLE(1000));
    for (const path of ["/api/v3/mappings/export/csv", "/api/v3/mappings/export/excel"]) {
      const e = await problems(t, `${path}?what=zz&page=2`);
      assert.equal(e.what, "must be one of de, ou");
      assert.match(e.page, /^unknown parameter; known: uid, code, /);
    }
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("/api/v3/logs names a bad page, page_size and an unknown filter together", async () => {
  const db = await createTestDb("list_query_errors_logs");
  const t = await createTestApp(db);
  try {
    const p = await problems(t, "/api/v3/logs?page=x&page_size=0&bogus=1");
    assert.deepEqual(Object.keys(p).sort(), ["bogus", "page", "page_size"]);
    assert.equal(p.page, WHOLE(1_000_000));
    assert.equal(p.page_size, WHOLE(500));
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("/api/v3/tracker/mappings names an unknown parameter instead of ignoring it", async () => {
  const db = await createTestDb("list_query_errors_tracker");
  const t = await createTestApp(db);
  try {
    // A misspelt source_name would otherwise list every source's mappings.
    const p = await problems(t, "/api/v3/tracker/mappings?source=hmis&page=2");
    assert.deepEqual(p, {
      source: "unknown parameter; known: source_name",
      page: "unknown parameter; known: source_name",
    });
    const ok = await t.app.request("/api/v3/tracker/mappings?source_name=hmis", {
      headers: t.users.admin.headers.token,
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { mappings: [] });
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("no list route answers a bad query in the validator's own words", async () => {
  const db = await createTestDb("list_query_errors_wording");
  const t = await createTestApp(db);
  try {
    for (
      const path of [
        "/api/v3/users?page_size=-1&is_active=yes&role=x&zzz=1",
        "/api/v3/mappings?page=1e3x&what=x&zzz=1",
        "/api/v3/mappings/export/csv?what=x&zzz=1",
        "/api/v3/logs?page=-1&zzz=1",
        "/api/v3/requests?page_size=x&zzz=1",
        "/api/v3/audit?page_size=x&zzz=1",
      ]
    ) {
      const res = await t.app.request(path, { headers: t.users.admin.headers.token });
      const text = await res.text();
      assert.equal(res.status, 422, path);
      assert.doesNotMatch(text, ZOD_WORDING, `${path}: ${text}`);
      assert.doesNotMatch(text, /"field":"query/, `${path}: ${text}`);
    }
  } finally {
    await t.close();
    await db.close();
  }
});
