/**
 * Issue 12 Part A: an old client's session (login, submit, look up its submission, requeue,
 * export and re-import mappings) written from old-go-service.md, unchanged against /api/v2;
 * the same session against /api/v3 gets today's shapes. And the getToken credential: long
 * lived, revocable, one live getToken token per user however often it is called.
 */
import assert from "node:assert/strict";
import { RAW_BUNDLE } from "../scripts/sample_tracker.ts";
import { hashToken } from "../src/auth/secrets.ts";
import { createApp } from "../src/http/app.ts";
import type { RequestLogBuffer, RequestLogEntry } from "../src/logs/request_log.ts";
import { basicHeader, createTestApp, type TestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { MAPPINGS } from "./support/submissions.ts";

const OU = "DiszpKrYNg8";
const DS = "pBOMPrpg1QX";
const MAPPINGS_CSV = "code,what,name,dataset,dataelement,category_option_combo\r\n" +
  `ANC1,de,ANC 1st visit,${DS},f7n9E0hX8qk,\r\n` +
  `MAL_M,de,Malaria male,${DS},deMalCases1,cocMale0001\r\n`;

function upload(bytes: Uint8Array | string, name: string): FormData {
  const form = new FormData();
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  form.set("file", new File([data as BlobPart], name));
  return form;
}

/** The old client: exactly what it sent to the Go service, with only the prefix varying. */
async function oldClientSession(t: TestApp, prefix: string) {
  const admin = t.users.admin;
  const call = async (method: string, path: string, auth: string, body?: BodyInit) => {
    const headers: Record<string, string> = { Authorization: auth };
    if (typeof body === "string") headers["Content-Type"] = "application/json";
    const res = await t.app.request(`${prefix}${path}`, { method, headers, body });
    const type = res.headers.get("content-type") ?? "";
    return {
      status: res.status,
      body: type.includes("json") ? await res.json() : new Uint8Array(await res.arrayBuffer()),
    };
  };
  const basic = basicHeader(admin.username, admin.password).Authorization;
  const login = await call("POST", "/users/getToken", basic);
  const auth = `Token ${login.body.token}`;
  const imported = await call("POST", "/mappings/import/csv", auth, upload(MAPPINGS_CSV, "m.csv"));
  const submitted = await call(
    "POST",
    "/aggregate",
    auth,
    JSON.stringify({ orgUnit: OU, period: "202401", dataSet: DS, dataValues: { ANC1: 12 } }),
  );
  const taskId = submitted.body.task_id;
  const found = await call("GET", `/logs?task_id=${taskId}&_=1733480000000`, auth);
  const one = await call("GET", `/logs/${submitted.body.submission_id}`, auth);
  const requeued = await call("GET", `/aggregate/reenqueue/${taskId}`, auth);
  const exported = await call("GET", "/mappings/export/excel", auth);
  const reimported = await call(
    "POST",
    "/mappings/import/excel",
    auth,
    upload(exported.body as Uint8Array, "dhis2_mappings.xlsx"),
  );
  return { login, imported, submitted, found, one, requeued, exported, reimported };
}

dbTest(
  "an old client's session runs unchanged on /api/v2; on /api/v3 it gets today's shapes",
  async () => {
    const db = await createTestDb("v2_session");
    const t = await createTestApp(db);
    try {
      const old = await oldClientSession(t, "/api/v2");
      assert.equal(old.login.status, 201);
      assert.match(old.login.body.token, /^[0-9a-f]{40}$/);
      assert.deepEqual(Object.keys(old.login.body).sort(), ["expires", "message", "token"]);
      assert.equal(old.imported.status, 200);
      assert.equal(old.imported.body.total, 2);
      assert.equal(old.imported.body.records[0].code, "ANC1");
      assert.equal(old.imported.body.records[0].categoryOptionCombo, null);
      assert.equal(old.imported.body.records[1].categoryOptionCombo, "cocMale0001");
      assert.equal(old.submitted.status, 200);
      assert.equal(old.submitted.body.message, "Aggregate request queued for processing");
      assert.equal(typeof old.submitted.body.submission_id, "number");
      assert.equal(old.found.status, 200);
      assert.equal(old.found.body.total, 1);
      const item = old.found.body.items[0];
      assert.deepEqual(item.task_id, { String: old.submitted.body.task_id, Valid: true });
      assert.equal(item.status, "queued");
      assert.deepEqual(item.payload.dataValues, { ANC1: 12 });
      assert.equal(typeof item.dhis2_payload.String, "string");
      assert.deepEqual(JSON.parse(item.dhis2_payload.String).dataValues, [
        { dataElement: "f7n9E0hX8qk", value: "12" },
      ]);
      assert.equal(old.one.status, 200);
      assert.equal(old.one.body.task_id, old.submitted.body.task_id);
      assert.equal(old.one.body.response, "");
      assert.equal(old.one.body.errors, "");
      assert.equal(old.requeued.status, 200);
      assert.equal(
        old.requeued.body.message,
        `Re-enqueued task ${old.submitted.body.task_id} (type: aggregate:send) from default queue`,
      );
      assert.equal(old.exported.status, 200);
      assert.equal(old.reimported.status, 200);
      assert.equal(old.reimported.body.total, 2);
      assert.equal(old.reimported.body.unchanged, 2);

      const now = await oldClientSession(t, "/api/v3");
      assert.equal(now.login.status, 201);
      assert.equal(now.login.body.tokenType, "Bearer");
      assert.equal(now.login.body.token.split(".").length, 3); // a JWT
      assert.equal(typeof now.login.body.refreshToken, "string");
      assert.equal(now.imported.status, 200);
      assert.equal(now.imported.body.total, undefined);
      assert.equal(now.imported.body.unchanged, 2);
      assert.equal(now.submitted.status, 200);
      // The cache-buster /api/v2 ignores is refused by name on /api/v3.
      assert.equal(now.found.status, 422);
      assert.equal(now.found.body.error.details[0].field, "_");
      assert.equal(now.one.body.task_id, now.submitted.body.task_id);
      assert.equal(now.one.body.status, "queued");
      assert.equal(now.one.body.last_error, null);
      assert.equal(now.one.body.errors, undefined);
      assert.equal(now.requeued.status, 200);
      assert.equal(now.requeued.body.requeued, false);
      assert.equal(now.reimported.status, 200);
      assert.equal(now.reimported.body.rows, 2);
    } finally {
      await t.close();
      await db.close();
    }
  },
);

async function liveGetTokens(t: TestApp, userId: number): Promise<number> {
  const [row] = await t.deps.sql<{ n: number }[]>`
    select count(*)::int as n from api_tokens
    where user_id = ${userId} and from_get_token and revoked_at is null`;
  return row.n;
}

dbTest(
  "v2 getToken: a long-lived revocable token; Basic revokes only earlier getToken tokens, Token rotates",
  async () => {
    const db = await createTestDb("v2_get_token");
    const t = await createTestApp(db, { env: { DHIS2GW_TOKEN_MAX_LIFETIME_DAYS: "30" } });
    try {
      const u = t.users.submitter;
      const getToken = (headers: Record<string, string>, body?: string) =>
        t.app.request("/api/v2/users/getToken", { method: "POST", headers, body });
      const works = async (token: string) =>
        (await t.app.request("/api/v2/test2", { headers: { Authorization: `Token ${token}` } }))
          .status;

      const first = await (await getToken(basicHeader(u.username, u.password))).json();
      const days = (Date.parse(first.expires) - Date.now()) / 86_400_000;
      assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);
      const [stored] = await t.deps.sql<{ token_hash: string }[]>`
      select token_hash from api_tokens where prefix = ${first.token.slice(0, 8)}`;
      assert.equal(stored.token_hash, hashToken(first.token)); // only the hash is stored

      // The old body (no header) logs in too; the first token is revoked, the v3 token is not.
      const second = await (await getToken(
        { "Content-Type": "application/json" },
        JSON.stringify({ username: u.username, password: u.password }),
      )).json();
      assert.equal(await works(first.token), 401);
      assert.equal(await works(second.token), 200);
      assert.equal(await works(u.apiToken), 200);

      // A Token header rotates that token.
      const third = await (await getToken({ Authorization: `Token ${second.token}` })).json();
      assert.equal(await works(second.token), 401);
      assert.equal(await works(third.token), 200);
      const rotatedV3 = await getToken({ Authorization: `Token ${u.apiToken}` });
      assert.equal(rotatedV3.status, 201);
      const fourth = await rotatedV3.json();
      assert.equal(await works(u.apiToken), 401);
      assert.equal(await works(fourth.token), 200);
      assert.equal(await works(third.token), 200); // rotating one token leaves the others
      const [renamed] = await t.deps.sql<{ name: string; from_get_token: boolean }[]>`
      select name, from_get_token from api_tokens where prefix = ${fourth.token.slice(0, 8)}`;
      assert.deepEqual({ ...renamed }, { name: "submitter test token", from_get_token: false });

      // Called at every start, in parallel: one live getToken token, never a pile.
      const many = await Promise.all(
        Array.from({ length: 8 }, () => getToken(basicHeader(u.username, u.password))),
      );
      assert.deepEqual(many.map((r) => r.status), Array(8).fill(201));
      assert.equal(await liveGetTokens(t, u.id), 1);
      assert.equal(await works(fourth.token), 200);

      // A bare access token cannot become a long-lived credential.
      const bearer = await getToken(u.headers.bearer);
      assert.equal(bearer.status, 400);
      const refused = await bearer.json();
      assert.equal(refused.error, "currentPassword is required");
      assert.equal(refused.code, "validation_failed");
      const withPassword = await getToken(
        { ...u.headers.bearer, "Content-Type": "application/json" },
        JSON.stringify({ currentPassword: u.password }),
      );
      assert.equal(withPassword.status, 201);

      const wrong = await getToken(basicHeader(u.username, "wrong password"));
      assert.equal(wrong.status, 401);
      const e = await wrong.json();
      assert.equal(typeof e.error, "string");
      assert.equal(e.code, "unauthorized");
      const none = await getToken({});
      assert.equal(none.status, 401);
    } finally {
      await t.close();
      await db.close();
    }
  },
);

dbTest(
  "v2 submissions refuse unmapped codes by default; api.unmapped_codes: ignore drops them",
  async () => {
    const db = await createTestDb("v2_unmapped");
    try {
      for (
        const [env, status] of [[{}, 400], [{ DHIS2GW_UNMAPPED_CODES: "ignore" }, 200]] as const
      ) {
        const t = await createTestApp(db, { env });
        try {
          const headers = t.users.admin.headers.token;
          await t.app.request("/api/v2/mappings/import/csv", {
            method: "POST",
            headers,
            body: upload(MAPPINGS_CSV, "m.csv"),
          });
          const res = await t.app.request("/api/v2/aggregate", {
            method: "POST",
            headers: { ...headers, "Content-Type": "application/json" },
            body: JSON.stringify({
              orgUnit: OU,
              period: "202401",
              dataSet: DS,
              dataValues: { ANC1: 1, NOPE: 2 },
            }),
          });
          assert.equal(res.status, status);
          const body = await res.json();
          if (status === 400) assert.equal(body.error, "unmapped codes: NOPE");
          else {
            assert.deepEqual(body.unmapped_codes, ["NOPE"]);
            assert.equal(body.payload.dataValues.length, 1);
          }
        } finally {
          await t.close();
        }
      }
    } finally {
      await db.close();
    }
  },
);

dbTest("an /api/v2 request is one request-log row, however many v3 calls it makes", async () => {
  const db = await createTestDb("v2_request_log");
  const t = await createTestApp(db);
  try {
    const rows: RequestLogEntry[] = [];
    const app = createApp({
      ...t.deps,
      mappings: MAPPINGS,
      requestLog: { add: (e: RequestLogEntry) => rows.push(e) } as unknown as RequestLogBuffer,
    });
    const headers = { ...t.users.admin.headers.token, "Content-Type": "application/json" };
    for (const period of ["202401", "202402"]) {
      const res = await app.request("/api/v2/aggregate", {
        method: "POST",
        headers,
        body: JSON.stringify({ orgUnit: OU, period, dataSet: DS, dataValues: { ANC1: 1 } }),
      });
      assert.equal(res.status, 200);
    }
    rows.length = 0;
    const list = await app.request("/api/v2/logs", { headers, method: "GET" });
    assert.equal((await list.json()).items.length, 2);
    assert.deepEqual(rows.map((r) => [r.path, r.status, r.username]), [
      ["/api/v2/logs", 200, t.users.admin.username],
    ]);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("/api/v2 edge cases: no Content-Type, unknown paths, large bodies, odd paging", async () => {
  const db = await createTestDb("v2_edges");
  const t = await createTestApp(db, { env: { DHIS2GW_BODY_LIMIT: "2048" } });
  try {
    const app = createApp({ ...t.deps, mappings: MAPPINGS });
    const auth = t.users.admin.headers.token;
    // Gin's ShouldBindJSON read the body whatever its Content-Type.
    const bare = await app.request("/api/v2/aggregate", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ orgUnit: OU, period: "202401", dataSet: DS, dataValues: { ANC1: 1 } }),
    });
    assert.equal(bare.status, 200, await bare.clone().text());

    const nowhere = await app.request("/api/v2/nowhere", { headers: auth });
    assert.equal(nowhere.status, 404);
    const e404 = await nowhere.json();
    assert.equal(typeof e404.error, "string");
    assert.equal(e404.code, "not_found");

    const big = await app.request("/api/v2/aggregate", {
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ pad: "x".repeat(4096) }),
    });
    assert.equal(big.status, 413);
    assert.equal((await big.json()).code, "payload_too_large");

    // A tracker submission is on /api/v3/logs, never in an old client's list.
    const tracker = await app.request("/api/v3/tracker", {
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify(RAW_BUNDLE),
    });
    assert.equal(tracker.status, 200, await tracker.clone().text());
    const v3 = await app.request("/api/v3/logs", { headers: auth });
    assert.equal((await v3.json()).total, 2);
    for (const [q, size] of [["page_size=0", 20], ["page_size=100000", 500], ["", 10]] as const) {
      const res = await app.request(`/api/v2/logs?${q}`, { headers: auth });
      assert.equal(res.status, 200);
      const page = await res.json();
      assert.equal(page.page_size, size, q);
      assert.equal(page.total, 1);
    }
    const both = await app.request("/api/v2/logs?status=failed,queued", { headers: auth });
    assert.equal((await both.json()).total, 1);
    const unknown = await app.request("/api/v2/logs?status=bogus&job_id=x", { headers: auth });
    assert.deepEqual(await unknown.json(), {
      items: [],
      total: 0,
      page: 1,
      total_pages: 0,
      page_size: 10,
    });
    const badId = await app.request("/api/v2/logs/abc", { method: "DELETE", headers: auth });
    assert.equal(badId.status, 400);
    assert.equal((await badId.json()).error, "Invalid log ID");
    const viewer = await app.request("/api/v2/logs/abc", {
      method: "DELETE",
      headers: t.users.viewer.headers.token,
    });
    assert.equal(viewer.status, 403);
  } finally {
    await t.close();
    await db.close();
  }
});
