/**
 * GET /metrics in-process: who may read it, the queue figures read from the database at scrape
 * time, HTTP requests by route pattern, and the worker's delivery series (with its retries
 * logged at warn). tests/metrics_promtool_test.ts scrapes a real gateway and lints the text.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../src/config/config.ts";
import { createApp } from "../src/http/app.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { deliveryAttempts, dhis2RequestDuration, httpRequests } from "../src/metrics/metrics.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { basicHeader, createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { AttemptLog, insertOne, testWorker } from "./support/submissions.ts";

const TOKEN = "scrape-" + crypto.randomUUID();

function seriesOf(text: string, name: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

dbTest(
  "GET /metrics answers admin and viewer credentials and the scrape token, nobody else",
  async () => {
    const db = await createTestDb("metrics_auth");
    const t = await createTestApp(db, { env: { DHIS2GW_METRICS_TOKEN: TOKEN } });
    try {
      const status = async (headers: Record<string, string>) => {
        const res = await t.app.request("/metrics", { headers });
        const text = await res.text();
        return { status: res.status, text, res };
      };
      const anon = await status({});
      assert.equal(anon.status, 401);
      assert.match(anon.res.headers.get("www-authenticate") ?? "", /Bearer/);
      assert.equal(JSON.parse(anon.text).error.code, "unauthorized");
      assert.equal((await status(t.users.submitter.headers.token)).status, 403);
      for (const h of [t.users.viewer.headers.basic, t.users.admin.headers.bearer]) {
        const ok = await status(h);
        assert.equal(ok.status, 200);
        assert.equal(
          ok.res.headers.get("content-type"),
          "text/plain; version=0.0.4; charset=utf-8",
        );
      }
      const scrape = await status({ Authorization: `Bearer ${TOKEN}` });
      assert.equal(scrape.status, 200);
      assert.match(scrape.text, /^# TYPE dhis2gw_queue_depth gauge$/m);
      assert.equal((await status({ Authorization: `bearer  ${TOKEN} ` })).status, 200);
      // A near miss, the token under another scheme, or as a Basic password: refused.
      assert.equal((await status({ Authorization: `Bearer ${TOKEN}x` })).status, 401);
      assert.equal((await status({ Authorization: `Bearer ${TOKEN.slice(0, -1)}` })).status, 401);
      assert.equal((await status({ Authorization: `Token ${TOKEN}` })).status, 401);
      assert.equal((await status(basicHeader("metrics", TOKEN))).status, 401);
      assert.deepEqual(t.logs.filter((l) => l.includes(TOKEN)), []);
    } finally {
      await t.close();
      await db.close();
    }
  },
);

Deno.test("metrics.token: shorter than 16 characters is a config problem naming the env var", () => {
  const r = loadConfig({ env: { DHIS2GW_METRICS_TOKEN: "short" } });
  assert.deepEqual(r.problems, [
    "metrics.token (env DHIS2GW_METRICS_TOKEN): must be at least 16 characters",
  ]);
  const ok = loadConfig({ env: { DHIS2GW_METRICS_TOKEN: TOKEN } });
  assert.equal(ok.config?.metrics.token, TOKEN);
});

dbTest(
  "queue depth and the oldest delivery's age come from the database per destination",
  async () => {
    const db = await createTestDb("metrics_queue");
    const t = await createTestApp(db);
    try {
      const empty =
        await (await t.app.request("/metrics", { headers: t.users.viewer.headers.token }))
          .text();
      assert.deepEqual(seriesOf(empty, "dhis2gw_queue_depth"), [
        'dhis2gw_queue_depth{destination="default",status="queued"} 0',
        'dhis2gw_queue_depth{destination="default",status="running"} 0',
        'dhis2gw_queue_depth{destination="default",status="retrying"} 0',
      ]);
      const ids: number[] = [];
      for (let i = 0; i < 6; i++) ids.push((await insertOne(db.sql, i)).id);
      await db.sql`update deliveries set status = 'retrying' where submission_id = ${ids[0]}`;
      await db
        .sql`update deliveries set status = 'running', locked_until = now() + interval '1 minute'
      where submission_id = ${ids[1]}`;
      await db.sql`update deliveries set status = 'delivered' where submission_id = ${ids[2]}`;
      await db.sql`update deliveries set status = 'dead' where submission_id = ${ids[3]}`;
      await db.sql`update deliveries set destination = 'hmis' where submission_id = ${ids[4]}`;
      await db.sql`update deliveries set created_at = now() - interval '1000 seconds'
      where submission_id = ${ids[0]}`;
      await db.sql`update deliveries set created_at = now() - interval '50 seconds'
      where submission_id = ${ids[4]}`;

      const text =
        await (await t.app.request("/metrics", { headers: t.users.viewer.headers.token }))
          .text();
      assert.deepEqual(seriesOf(text, "dhis2gw_queue_depth"), [
        'dhis2gw_queue_depth{destination="default",status="queued"} 1',
        'dhis2gw_queue_depth{destination="default",status="running"} 1',
        'dhis2gw_queue_depth{destination="default",status="retrying"} 1',
        'dhis2gw_queue_depth{destination="hmis",status="queued"} 1',
        'dhis2gw_queue_depth{destination="hmis",status="running"} 0',
        'dhis2gw_queue_depth{destination="hmis",status="retrying"} 0',
      ]);
      const ages = seriesOf(text, "dhis2gw_queue_oldest_waiting_age_seconds").map((l) => {
        const [, dest, v] = /destination="(\w+)"} ([\d.]+)$/.exec(l)!;
        return [dest, Math.round(Number(v) / 10) * 10];
      });
      assert.deepEqual(ages, [["default", 1000], ["hmis", 50]]);
      assert.deepEqual(seriesOf(text, "dhis2gw_queue_query_success"), [
        "dhis2gw_queue_query_success 1",
      ]);
    } finally {
      await t.close();
      await db.close();
    }
  },
);

dbTest("HTTP requests are counted by route pattern and status, never by raw path", async () => {
  const db = await createTestDb("metrics_http");
  const t = await createTestApp(db);
  try {
    const count = (route: string, status: string, method = "GET") =>
      httpRequests.get({ method, route, status });
    const before = [
      count("/api/v3/logs/:id", "404"),
      count("unmatched", "404"),
      count("/api/v3/logs", "401"),
      count("/api/v3/logs/:id", "200"),
    ];
    await (await t.app.request("/api/v3/logs/987654321", { headers: t.users.viewer.headers.token }))
      .body?.cancel();
    await (await t.app.request("/api/v3/logs/987654322", { headers: t.users.viewer.headers.token }))
      .body?.cancel();
    await (await t.app.request("/no/such/path/42")).body?.cancel();
    await (await t.app.request("/api/v3/logs")).body?.cancel(); // 401 before the route runs
    assert.deepEqual(
      [
        count("/api/v3/logs/:id", "404"),
        count("unmatched", "404"),
        count("/api/v3/logs", "401"),
        count("/api/v3/logs/:id", "200"),
      ].map((n, i) => n - before[i]),
      [2, 1, 1, 0],
    );
    const text = await (await t.app.request("/metrics", { headers: t.users.admin.headers.token }))
      .text();
    assert.doesNotMatch(text, /route="[^"]*\d{5,}/);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("a failed delivery is logged at warn and counted as a retry attempt", async () => {
  const db = await createTestDb("metrics_worker");
  const sim = await startSimulator({ port: 0 });
  const attempts = new AttemptLog();
  const { log, lines } = captureLogger("info");
  const destination = "default";
  const before = {
    retry: deliveryAttempts.get({ destination, outcome: "retry" }),
    delivered: deliveryAttempts.get({ destination, outcome: "delivered" }),
    timed: dhis2RequestDuration.count({ destination }),
  };
  const worker = testWorker(db.sql, sim, attempts, { log });
  try {
    sim.injectFaults([{ path: "/api/dataValueSets", status: 503, times: 1 }]);
    await insertOne(db.sql, 1);
    worker.start();
    await attempts.until((e) => e.some((x) => x.outcome === "retry"));
    const failed = lines.map((l) => JSON.parse(l)).filter((l) =>
      l.msg === "delivery failed; will retry"
    );
    assert.equal(failed.length, 1);
    assert.equal(failed[0].level, "warn");
    assert.equal(failed[0].httpStatus, 503);
    assert.equal(deliveryAttempts.get({ destination, outcome: "retry" }) - before.retry, 1);
    assert.equal(deliveryAttempts.get({ destination, outcome: "delivered" }) - before.delivered, 0);
    assert.equal(dhis2RequestDuration.count({ destination }) - before.timed, 1);
  } finally {
    await worker.stop(1000);
    await sim.stop();
    await db.close();
  }
});

dbTest("the scrape shows each destination's health check and circuit breaker", async () => {
  const db = await createTestDb("metrics_health");
  const t = await createTestApp(db);
  try {
    const { CircuitBreakers } = await import("../src/queue/circuit_breaker.ts");
    const breakers = new CircuitBreakers({ failureThreshold: 1 });
    breakers.get("http://dhis2.invalid/api").onFailure(new Date());
    const app = createApp({
      ...t.deps,
      breakers,
      destinationHealth: () => [{
        name: "default",
        url: "http://dhis2.invalid/api",
        state: "credentials_refused",
        httpStatus: 401,
        error: "HTTP 401",
        version: null,
        durationMs: 3,
        checkedAt: new Date().toISOString(),
        changedAt: new Date().toISOString(),
      }],
    });
    const text = await (await app.request("/metrics", { headers: t.users.viewer.headers.token }))
      .text();
    assert.deepEqual(seriesOf(text, "dhis2gw_destination_up"), [
      'dhis2gw_destination_up{destination="default"} 0',
    ]);
    assert.deepEqual(seriesOf(text, "dhis2gw_circuit_breaker_state"), [
      'dhis2gw_circuit_breaker_state{destination="default",state="closed"} 0',
      'dhis2gw_circuit_breaker_state{destination="default",state="open"} 1',
      'dhis2gw_circuit_breaker_state{destination="default",state="half_open"} 0',
    ]);

    // The banner's API and fragment say the same, for a viewer.
    const health = await (await app.request("/api/v3/status/health", {
      headers: t.users.viewer.headers.token,
    })).json();
    assert.equal(health.alert, true);
    assert.deepEqual(
      health.destinations.map((d: Record<string, unknown>) => [d.name, d.state, d.breaker]),
      [["default", "credentials_refused", "open"]],
    );
    const banner = await (await app.request("/admin/f/health", {
      headers: t.users.viewer.headers.token,
    })).text();
    assert.match(
      banner,
      /DHIS2 &quot;default&quot; refuses the gateway&#39;s credentials \(HTTP 401\); deliveries are paused \(circuit breaker open\)\./,
    );
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("no banner while every destination is up and its breaker closed", async () => {
  const db = await createTestDb("metrics_health_ok");
  const t = await createTestApp(db);
  try {
    const { CircuitBreakers } = await import("../src/queue/circuit_breaker.ts");
    const breakers = new CircuitBreakers({ failureThreshold: 2 });
    breakers.get("http://dhis2.invalid/api").onFailure(new Date()); // one failure: still closed
    const at = new Date().toISOString();
    const base = {
      name: "default",
      url: "http://dhis2.invalid/api",
      httpStatus: 200,
      error: null,
      version: "2.41.3",
      durationMs: 3,
      checkedAt: at,
      changedAt: at,
    };
    for (const state of ["ok", "unknown"] as const) {
      const app = createApp({ ...t.deps, breakers, destinationHealth: () => [{ ...base, state }] });
      const h = await (await app.request("/api/v3/status/health", {
        headers: t.users.admin.headers.token,
      })).json();
      assert.equal(h.alert, false);
      const banner = await app.request("/admin/f/health", { headers: t.users.admin.headers.token });
      assert.equal(banner.status, 200);
      assert.equal(await banner.text(), "");
    }
    // Without a DHIS2 (no monitor), nothing to warn about either.
    const none = await (await t.app.request("/api/v3/status/health", {
      headers: t.users.admin.headers.token,
    })).json();
    assert.deepEqual(none, { alert: false, destinations: [] });
  } finally {
    await t.close();
    await db.close();
  }
});
