/**
 * `serve --worker-only` listens on no API port; with `metrics.port` it serves GET /metrics and
 * GET /health there, so the delivery counters of a worker-only process can be scraped too.
 */
import assert from "node:assert/strict";
import { startGateway } from "../src/cli/gateway.ts";
import { loadConfig } from "../src/config/config.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { deliveriesFinished } from "../src/metrics/metrics.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { insertOne } from "./support/submissions.ts";

const TOKEN = "scrape-" + crypto.randomUUID();

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

dbTest("a worker-only process serves its metrics (and nothing else) on metrics.port", async () => {
  const db = await createTestDb("metrics_worker_port");
  const sim = await startSimulator({ port: 0 });
  const port = freePort();
  const loaded = loadConfig({
    env: {
      DHIS2GW_DB: db.url,
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_SERVER_PORT: "0",
      DHIS2GW_METRICS_PORT: String(port),
      DHIS2GW_METRICS_TOKEN: TOKEN,
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: "admin",
      DHIS2GW_DHIS2_PASSWORD: "district",
      DHIS2GW_REQUEST_PROCESS_INTERVAL: "1",
      DHIS2GW_ADMIN_PASSWORD: `pw-${crypto.randomUUID()}`,
    },
  });
  assert.ok(loaded.config, loaded.problems.join("; "));
  const { log, lines } = captureLogger("info");
  const before = deliveriesFinished.get({ destination: "default", outcome: "delivered" });
  const gw = await startGateway(loaded.config!, log, { api: false, worker: true });
  try {
    assert.equal(gw.port, 0, "no API port");
    const { id } = await insertOne(db.sql, 1);
    for (let i = 0;; i++) {
      const [row] = await db.sql`select status from submissions where id = ${id}`;
      if (row.status === "delivered") break;
      assert.ok(i < 200, `submission stayed ${row.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const base = `http://127.0.0.1:${port}`;
    const res = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    const text = await res.text();
    const m = /^dhis2gw_deliveries_total\{destination="default",outcome="delivered"\} (\d+)$/m
      .exec(text);
    assert.ok(m, text);
    assert.equal(Number(m[1]) - before, 1);
    assert.match(
      text,
      /^dhis2gw_circuit_breaker_state\{destination="default",state="closed"\} 1$/m,
    );

    const anon = await fetch(`${base}/metrics`);
    assert.equal(anon.status, 401);
    assert.equal((await anon.json()).error.code, "unauthorized");
    const health = await fetch(`${base}/health`);
    assert.deepEqual([health.status, await health.json()], [200, { status: "ok" }]);
    const api = await fetch(`${base}/api/v3/logs`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(api.status, 404);
    assert.equal((await api.json()).error.code, "not_found");
    assert.deepEqual(lines.filter((l) => l.includes(TOKEN)), []);
  } finally {
    await gw.stop();
    await sim.stop();
  }
  // Stopped: the port is free again.
  const again = Deno.listen({ hostname: "127.0.0.1", port });
  again.close();
});

Deno.test("metrics.port equal to server.port is a config problem", () => {
  const r = loadConfig({ env: { DHIS2GW_SERVER_PORT: "9090", DHIS2GW_METRICS_PORT: "9090" } });
  assert.deepEqual(r.problems, [
    "metrics.port (env DHIS2GW_METRICS_PORT): must differ from server.port",
  ]);
});
