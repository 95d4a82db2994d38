import assert from "node:assert/strict";
import { loadConfig } from "../src/config/config.ts";
import { connect } from "../src/db/db.ts";
import { createRoute, z } from "@hono/zod-openapi";
import { createApp, renderError } from "../src/http/app.ts";
import { newRouter } from "../src/http/router.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { RequestLogBuffer } from "../src/logs/request_log.ts";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

function appWith(readiness: () => Promise<{ ok: boolean; reason?: string }>, env = {}) {
  const { config } = loadConfig({ env: { DHIS2GW_BODY_LIMIT: "2048", ...env } });
  const { log, lines } = captureLogger();
  // A pool that never connects: these routes do not touch the database.
  const sql = connect({ url: "postgres://nobody@127.0.0.1:1/none", max: 1 });
  return { app: createApp({ config: config!, sql, log, readiness }), lines };
}

Deno.test("GET /health answers 200 with a request id", async () => {
  const { app } = appWith(() => Promise.resolve({ ok: true }));
  const res = await app.request("/health");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: "ok" });
  assert.match(res.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);
});

Deno.test("GET / sends a browser to the admin console", async () => {
  const { app } = appWith(() => Promise.resolve({ ok: true }));
  const res = await app.request("/");
  assert.equal(res.status, 302);
  assert.equal(res.headers.get("location"), "/admin");
});

Deno.test("GET /ready is 503 with the reason in the envelope when not ready", async () => {
  const { app } = appWith(() =>
    Promise.resolve({ ok: false, reason: "1 migration(s) pending, first 2" })
  );
  const res = await app.request("/ready", { headers: { "X-Request-Id": "probe-1" } });
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("x-request-id"), "probe-1");
  assert.deepEqual(await res.json(), {
    error: { code: "not_ready", message: "1 migration(s) pending, first 2", requestId: "probe-1" },
  });
  const down = appWith(() => Promise.reject(new Error("connection refused")));
  const res2 = await down.app.request("/ready");
  assert.equal(res2.status, 503);
  assert.match((await res2.json()).error.message, /database does not answer: connection refused/);
});

Deno.test("unknown routes get the JSON envelope, and a bad request id is replaced", async () => {
  const { app } = appWith(() => Promise.resolve({ ok: true }));
  const res = await app.request("/api/v3/nothing-here", { headers: { "X-Request-Id": "bad id!" } });
  assert.equal(res.status, 404);
  const body = await res.json();
  assert.equal(body.error.code, "not_found");
  assert.equal(body.error.message, "no route for GET /api/v3/nothing-here");
  assert.notEqual(body.error.requestId, "bad id!");
  assert.equal(body.error.requestId, res.headers.get("x-request-id"));
});

Deno.test("a body over the configured limit is refused with 413 in the envelope", async () => {
  const { app } = appWith(() => Promise.resolve({ ok: true }));
  const res = await app.request("/health", { method: "POST", body: "x".repeat(5000) });
  assert.equal(res.status, 413);
  const body = await res.json();
  assert.equal(body.error.code, "payload_too_large");
});

Deno.test("a body of a media type the route does not take is 415 unsupported_media_type", async () => {
  const { log } = captureLogger();
  // A route declaring a JSON body, as every /api/v3 route with one does: zod-openapi's
  // media-type gate throws HTTPException(415) before the route's own validation runs.
  const app = newRouter();
  app.openapi(
    createRoute({
      method: "post",
      path: "/things",
      request: {
        body: { content: { "application/json": { schema: z.object({ name: z.string() }) } } },
      },
      responses: { 200: { description: "ok" } },
    }),
    (c) => c.json({}, 200),
  );
  app.onError((err, c) => renderError(err, c, log));
  const res = await app.request("/things", {
    method: "POST",
    headers: { "Content-Type": "text/csv" },
    body: "name\nx",
  });
  assert.equal(res.status, 415);
  assert.equal((await res.json()).error.code, "unsupported_media_type");
});

dbTest("the app answers a CSV sent to a JSON route with 415 unsupported_media_type", async () => {
  const db = await createTestDb("media_type");
  const t = await createTestApp(db);
  try {
    const res = await t.app.request("/api/v3/users", {
      method: "POST",
      headers: {
        ...t.users.admin.headers.token,
        "Content-Type": "text/csv",
        "X-Request-Id": "m-1",
      },
      body: "username\nbob",
    });
    assert.equal(res.status, 415);
    assert.deepEqual(await res.json(), {
      error: {
        code: "unsupported_media_type",
        message: "Unsupported Media Type",
        requestId: "m-1",
      },
    });
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("the request log buffer writes rows in batches and flushes on close", async () => {
  const db = await createTestDb("request_log");
  try {
    const { log } = captureLogger();
    const buf = new RequestLogBuffer(db.sql, log, { intervalMs: 60_000, maxRows: 1000 });
    for (let i = 0; i < 3; i++) {
      buf.add({
        at: new Date(),
        request_id: `r${i}`,
        user_uid: null,
        username: i === 0 ? "alice" : null,
        method: "GET",
        path: "/api/v3/logs",
        status: 200,
        duration_ms: i,
        client_ip: null,
      });
    }
    const [{ before }] = await db.sql`select count(*)::int as before from request_log`;
    assert.equal(before, 0, "nothing is written until the buffer flushes");
    await buf.close();
    const rows = await db.sql`select request_id, username from request_log order by request_id`;
    assert.deepEqual(rows.map((r) => [r.request_id, r.username]), [["r0", "alice"], ["r1", null], [
      "r2",
      null,
    ]]);
  } finally {
    await db.close();
  }
});

dbTest(
  "the request log records the address throttling uses: the proxy's last X-Forwarded-For entry",
  async () => {
    const db = await createTestDb("request_log_ip");
    const { config } = loadConfig({ env: {} });
    const { log } = captureLogger();
    const requestLog = new RequestLogBuffer(db.sql, log, { intervalMs: 60_000, maxRows: 1000 });
    const app = createApp({
      config: config!,
      sql: db.sql,
      log,
      requestLog,
      readiness: () => Promise.resolve({ ok: true }),
    });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
    try {
      const base = `http://127.0.0.1:${server.addr.port}`;
      const send = async (id: string, forwarded?: string) => {
        const headers: Record<string, string> = { "X-Request-Id": id };
        if (forwarded) headers["X-Forwarded-For"] = forwarded;
        await (await fetch(`${base}/api/v3/nowhere`, { headers })).body?.cancel();
      };
      // Behind a proxy on loopback: the client wrote the first entry, the proxy the last.
      await send("via-proxy", "203.0.113.7, 198.51.100.1");
      await send("direct");
      await requestLog.close();
      const rows = await db.sql`select request_id, client_ip from request_log order by request_id`;
      assert.deepEqual(rows.map((r) => [r.request_id, r.client_ip]), [
        ["direct", "127.0.0.1"],
        ["via-proxy", "198.51.100.1"],
      ]);
    } finally {
      await server.shutdown();
      await db.close();
    }
  },
);
