/**
 * A real `serve --worker-only` process killed with SIGKILL while a delivery is in flight: after
 * a restart, its lease expires, the rescuer returns the submission and it is delivered; every
 * other accepted submission is delivered too. Nothing accepted is lost.
 */
import assert from "node:assert/strict";
import { startSimulator } from "../src/simulator/simulator.ts";
import { startServe } from "./support/cli.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { insertOne } from "./support/submissions.ts";

/** Waits for an observable condition (a row state, a recorded request), checking every 50 ms. */
async function until(what: string, check: () => Promise<boolean> | boolean, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

dbTest("a worker killed with SIGKILL mid-delivery loses nothing after a restart", async () => {
  const db = await createTestDb("q_sigkill");
  const sim = await startSimulator();
  const N = 20;
  const env = {
    DHIS2GW_DB: db.url,
    DHIS2GW_ADMIN_PASSWORD: "sigkill-Sturdy-pw-1",
    DHIS2GW_DHIS2_BASE_URL: sim.url,
    DHIS2GW_DHIS2_USER: "admin",
    DHIS2GW_DHIS2_PASSWORD: "district",
    // Lease = max(5, timeout 5 + 10) = 15 s; rescuer every second; poll every second. The
    // timeout must outlast the moment between the hung POST and the SIGKILL on a loaded
    // machine (with 2 s the POST sometimes timed out first and released its lease).
    DHIS2GW_DHIS2_TIMEOUT: "5",
    DHIS2GW_LEASE_SECONDS: "5",
    DHIS2GW_RETRY_CRON: "* * * * * *",
    DHIS2GW_REQUEST_PROCESS_INTERVAL: "1",
    DHIS2GW_MAX_CONCURRENT: "4",
  };
  let proc = startServe(["serve", "--worker-only"], { env });
  try {
    await proc.waitFor(/"msg":"worker started"/, 60_000);
    // The first delivery hangs (DHIS2 never answers); the others are answered normally.
    sim.injectFaults([{ path: "/api/dataValueSets", timeout: true, times: 1 }]);
    const ids: number[] = [];
    // One period each, so every submission is its own data value in DHIS2.
    const period = (i: number) =>
      `${2023 + Math.floor(i / 12)}${String(i % 12 + 1).padStart(2, "0")}`;
    for (let i = 0; i < N; i++) {
      ids.push((await db.sql.begin((tx) => insertOne(tx, i, period(i)))).id);
    }
    await until("the first POST to reach DHIS2", () => sim.received.length > 0);
    const killed = await proc.stop("SIGKILL");
    assert.equal(killed.signal, "SIGKILL");

    const [held] = await db.sql`
      select count(*)::int as n from deliveries where status = 'running'`;
    assert.ok(held.n >= 1, "the killed worker left at least one lease behind");

    proc = startServe(["serve", "--worker-only"], { env });
    await until("every submission to be delivered", async () => {
      const [r] = await db.sql`
        select count(*)::int as n from submissions where status = 'delivered'`;
      return r.n === N;
    });
    const rescued = await db.sql`
      select d.submission_id, a.number, a.outcome
      from delivery_attempts a join deliveries d on d.id = a.delivery_id
      where a.outcome = 'lease_expired' order by d.submission_id`;
    assert.ok(rescued.length >= 1, "the in-flight delivery was rescued");
    for (const r of rescued) {
      const [s] = await db.sql`
        select d.attempts, s.status
        from submissions s join deliveries d on d.submission_id = s.id
        where s.id = ${r.submission_id}`;
      assert.deepEqual(s, { attempts: r.number + 1, status: "delivered" });
    }
    // Every accepted value reached DHIS2 (the hung request never stored anything).
    const stored = sim.dataValues().map((v) => v.value).sort((a, b) => Number(a) - Number(b));
    assert.deepEqual(stored, Array.from({ length: N }, (_, i) => String(i)));
  } finally {
    await proc.stop("SIGTERM");
    await sim.stop();
    await db.close();
  }
});
