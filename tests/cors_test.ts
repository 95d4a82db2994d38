/**
 * CORS on /api: the old service let a page on any origin call it (old-go-service.md §1), so a
 * dashboard on another host must still get its preflight answered, before authentication.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../src/config/config.ts";
import { corsOrigins } from "../src/config/cors_origins.ts";
import { LiveConfig } from "../src/config/live.ts";
import { createApp } from "../src/http/app.ts";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const DASHBOARD = "https://dash.example.org";

function preflight(method: string, origin = DASHBOARD): RequestInit {
  return {
    method: "OPTIONS",
    headers: {
      Origin: origin,
      "Access-Control-Request-Method": method,
      "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
    },
  };
}

dbTest("by default any origin gets its preflight answered and can read answers", async () => {
  const db = await createTestDb("cors_default");
  const t = await createTestApp(db);
  try {
    const pre = await t.app.request("/api/v3/logs", preflight("GET"));
    assert.equal(pre.status, 204, "a preflight carries no credentials: never 401");
    assert.equal(pre.headers.get("access-control-allow-origin"), "*");
    assert.equal(
      pre.headers.get("access-control-allow-methods"),
      "GET,HEAD,POST,PUT,PATCH,DELETE",
    );
    assert.equal(
      pre.headers.get("access-control-allow-headers"),
      "Authorization,Content-Type,Idempotency-Key,X-Request-Id",
    );
    assert.equal(pre.headers.get("access-control-max-age"), "7200");
    assert.equal(pre.headers.get("access-control-allow-credentials"), null);
    assert.match(pre.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);

    const submit = await t.app.request("/api/v3/aggregate", preflight("POST"));
    assert.equal(submit.status, 204);
    assert.equal(submit.headers.get("access-control-allow-origin"), "*");

    const res = await t.app.request("/api/v3/logs", {
      headers: { Origin: DASHBOARD, ...t.users.viewer.headers.token },
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    assert.equal(
      res.headers.get("access-control-expose-headers"),
      "X-Request-Id,Retry-After,Idempotent-Replayed",
    );

    // The page must be able to read a refusal too, or it sees only a network error.
    const anon = await t.app.request("/api/v3/logs", { headers: { Origin: DASHBOARD } });
    assert.equal(anon.status, 401);
    assert.equal((await anon.json()).error.code, "unauthorized");
    assert.equal(anon.headers.get("access-control-allow-origin"), "*");

    // Only /api: the console and the docs stay same-origin.
    const health = await t.app.request("/health", { headers: { Origin: DASHBOARD } });
    assert.equal(health.headers.get("access-control-allow-origin"), null);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("a list of origins allows exactly those", async () => {
  const db = await createTestDb("cors_list");
  const t = await createTestApp(db, {
    env: { DHIS2GW_CORS_ORIGINS: "https://dash.example.org/, http://localhost:5173" },
  });
  try {
    for (const origin of [DASHBOARD, "http://localhost:5173"]) {
      const pre = await t.app.request("/api/v3/logs", preflight("GET", origin));
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get("access-control-allow-origin"), origin);
      assert.match(pre.headers.get("vary") ?? "", /Origin/);
    }
    const other = await t.app.request("/api/v3/logs", preflight("GET", "https://evil.example"));
    assert.equal(other.headers.get("access-control-allow-origin"), null);
    const res = await t.app.request("/api/v3/logs", {
      headers: { Origin: "https://evil.example", ...t.users.viewer.headers.token },
    });
    await res.body?.cancel();
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.match(res.headers.get("vary") ?? "", /Origin/);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("an empty list turns CORS off", async () => {
  const db = await createTestDb("cors_off");
  const t = await createTestApp(db, { env: { DHIS2GW_CORS_ORIGINS: "" } });
  try {
    const pre = await t.app.request("/api/v3/logs", preflight("GET"));
    assert.equal(pre.status, 401);
    await pre.body?.cancel();
    assert.equal(pre.headers.get("access-control-allow-origin"), null);
  } finally {
    await t.close();
    await db.close();
  }
});

Deno.test("server.cors_origins: *, origins (normalized) or nothing; anything else stops", () => {
  assert.equal(corsOrigins("*"), "*");
  assert.equal(corsOrigins("https://a.example, *"), "*");
  assert.equal(corsOrigins(""), undefined);
  assert.equal(corsOrigins(" , "), undefined);
  assert.deepEqual(corsOrigins("https://A.example/, http://localhost:8080/app"), [
    "https://a.example",
    "http://localhost:8080",
  ]);
  assert.throws(
    () => corsOrigins("https://a.example,dash.example.org"),
    /server\.cors_origins \(env DHIS2GW_CORS_ORIGINS\): "dash\.example\.org" is not an origin/,
  );
  assert.throws(() => corsOrigins("file:///tmp/x"), /"file:\/\/\/tmp\/x" is not an origin/);
});

dbTest(
  "a reload changes CORS and the body limit for the next request (SIGHUP, item 2)",
  async () => {
    const db = await createTestDb("cors_reload");
    const t = await createTestApp(db);
    try {
      // The gateway hands its parts the live view (cli/gateway.ts); a SIGHUP calls apply().
      const live = new LiveConfig(t.config);
      const app = createApp({ ...t.deps, config: live.view });
      const other = "https://other.example";
      const before = await app.request("/api/v3/aggregate", preflight("POST", other));
      assert.equal(before.headers.get("access-control-allow-origin"), "*");
      const big = JSON.stringify({ pad: "x".repeat(3000) });
      const post = () =>
        app.request("/api/v3/aggregate", {
          method: "POST",
          headers: { ...t.users.submitter.headers.token, "Content-Type": "application/json" },
          body: big,
        });
      assert.equal((await post()).status, 422, "under the default limit: read, then refused");

      const next = loadConfig({
        env: { DHIS2GW_CORS_ORIGINS: DASHBOARD, DHIS2GW_BODY_LIMIT: "2048" },
      });
      assert.deepEqual(live.apply(next.config!), {
        applied: ["server.body_limit", "server.cors_origins"],
        restartNeeded: [],
      });
      const after = await app.request("/api/v3/aggregate", preflight("POST", other));
      assert.equal(after.headers.get("access-control-allow-origin"), null);
      await after.body?.cancel();
      const allowed = await app.request("/api/v3/aggregate", preflight("POST"));
      assert.equal(allowed.headers.get("access-control-allow-origin"), DASHBOARD);
      const res = await post();
      assert.equal(res.status, 413);
      assert.equal(
        (await res.json()).error.message,
        "request body is larger than the limit of 2048 bytes (server.body_limit)",
      );
    } finally {
      await t.close();
      await db.close();
    }
  },
);
