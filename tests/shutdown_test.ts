/**
 * A stop takes at most server.shutdown_grace: the worker's drain runs alongside the HTTP
 * drain, not after it (before, a slow upload and a slow DHIS2 delivery took twice the grace).
 */
import assert from "node:assert/strict";
import { startGateway } from "../src/cli/gateway.ts";
import { loadConfig } from "../src/config/config.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { ADMIN, SAMPLE_SUBMISSION, setUpSample } from "../scripts/sample.ts";
import { createTestDb, PG_SKIP_REASON } from "./support/pg.ts";

const GRACE_S = 2;

Deno.test({
  name: "stop with a slow upload and a slow DHIS2 delivery in flight takes one grace period",
  ignore: PG_SKIP_REASON !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const db = await createTestDb("shutdown", { migrated: false });
    const sim = await startSimulator({ port: 0 });
    // DHIS2 answers the import only after 30 s: the delivery stays in flight.
    sim.injectFaults([{ method: "POST", delayMs: 30_000, times: 1 }]);
    const { config, problems } = loadConfig({
      env: {
        DHIS2GW_DB: db.url,
        DHIS2GW_HOST: "127.0.0.1",
        DHIS2GW_SERVER_PORT: "0",
        DHIS2GW_SHUTDOWN_GRACE: String(GRACE_S),
        DHIS2GW_REQUEST_PROCESS_INTERVAL: "1",
        DHIS2GW_DHIS2_BASE_URL: sim.url,
        DHIS2GW_DHIS2_USER: "admin",
        DHIS2GW_DHIS2_PASSWORD: "district",
        DHIS2GW_DHIS2_TIMEOUT: "60",
        DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
      },
    });
    assert.deepEqual(problems, []);
    const { log } = captureLogger("info");
    const gw = await startGateway(config!, log);
    const api = `http://127.0.0.1:${gw.port}/api/v3`;
    const sample = await setUpSample(api);
    const res = await fetch(`${api}/aggregate`, {
      method: "POST",
      headers: { Authorization: `Token ${sample.apiToken}`, "Content-Type": "application/json" },
      body: JSON.stringify(SAMPLE_SUBMISSION),
    });
    const accepted = await res.text();
    assert.equal(res.status, 200, accepted);
    // The delivery reached DHIS2 (the simulator records a request when it arrives).
    while (!sim.received.some((r) => r.path.endsWith("/dataValueSets") && r.method === "POST")) {
      await new Promise((r) => setTimeout(r, 20));
    }

    // An upload that sends its first bytes and then stalls.
    const stall = Promise.withResolvers<void>();
    const upload = fetch(`${api}/aggregate`, {
      method: "POST",
      headers: { Authorization: `Token ${sample.apiToken}`, "Content-Type": "application/json" },
      body: new ReadableStream({
        async start(c) {
          c.enqueue(new TextEncoder().encode('{"orgUnit":"DiszpKrYNg8",'));
          await stall.promise;
          c.close();
        },
      }),
    }).then((r) => r.body?.cancel(), () => {});
    // The handler has the request once its headers arrived; give the server a moment to call it.
    await new Promise((r) => setTimeout(r, 300));

    const t0 = performance.now();
    const result = await gw.stop();
    const took = performance.now() - t0;
    stall.resolve();
    await upload;
    await sim.stop();
    await db.close();
    assert.equal(result.graceful, false, "something was still in flight at the end of the grace");
    // One grace period (both drains wait it out together), plus closing the pool.
    assert.ok(took >= GRACE_S * 1000 - 50, `stop took ${took} ms`);
    assert.ok(took < GRACE_S * 1000 + 1500, `stop took ${took} ms with a ${GRACE_S} s grace`);
  },
});
