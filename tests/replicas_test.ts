import assert from "node:assert/strict";
import { ADMIN, SAMPLE_SUBMISSION, setUpSample } from "../scripts/sample.ts";
import { loadMigrations } from "../src/db/migrate.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { WorkNotifier } from "../src/queue/wakeup.ts";
import { portFrom, startServe } from "./support/cli.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { insertOne } from "./support/submissions.ts";

dbTest(
  "two processes started at once on an empty PostgreSQL both become ready; each migration once",
  async () => {
    const db = await createTestDb("replicas", { migrated: false });
    const env = {
      DHIS2GW_DB: db.url,
      DHIS2GW_SERVER_PORT: "0",
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_ADMIN_PASSWORD: "replica-Sturdy-pw-1",
    };
    const procs = [startServe(["serve"], { env }), startServe(["serve"], { env })];
    try {
      const lines = await Promise.all(procs.map((p) => p.waitFor(/"msg":"listening"/, 60_000)));
      for (const line of lines) {
        const res = await fetch(`http://127.0.0.1:${portFrom(line)}/ready`);
        assert.equal(res.status, 200);
        await res.body?.cancel();
      }
      const code = await loadMigrations();
      const rows = await db.sql`select version from schema_migrations order by version`;
      assert.deepEqual(rows.map((r) => r.version), code.map((m) => m.version));
      const appliedLines = procs.flatMap((p) =>
        p.lines.filter((l) => l.includes('"applied migration"'))
      );
      assert.equal(
        appliedLines.length,
        code.length,
        "each migration applied by exactly one process",
      );
    } finally {
      for (const p of procs) assert.equal((await p.stop()).code, 0);
      await db.close();
    }
  },
);

dbTest(
  "an API-only process wakes a worker-only process at once (NOTIFY), long before its poll",
  async () => {
    const db = await createTestDb("replicas_wake");
    const sim = await startSimulator({ port: 0 });
    const env = {
      DHIS2GW_DB: db.url,
      DHIS2GW_SERVER_PORT: "0",
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: "admin",
      DHIS2GW_DHIS2_PASSWORD: "district",
      // The worker's fallback poll is far beyond the test's patience.
      DHIS2GW_REQUEST_PROCESS_INTERVAL: "300",
    };
    const api = startServe(["serve", "--no-worker"], { env });
    const worker = startServe(["serve", "--worker-only"], { env });
    try {
      const port = portFrom(await api.waitFor(/"msg":"listening"/, 60_000));
      await worker.waitFor(/"msg":"worker started"/, 60_000);
      const base = `http://127.0.0.1:${port}/api/v3`;
      const sample = await setUpSample(base);
      // Let the worker's first poll (at start) pass, so only a NOTIFY can wake it now.
      await new Promise((r) => setTimeout(r, 500));
      for (let round = 0; round < 3; round++) {
        const t0 = performance.now();
        const res = await fetch(`${base}/aggregate`, {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            Authorization: `Token ${sample.apiToken}`,
          },
          body: JSON.stringify({ ...SAMPLE_SUBMISSION, period: `20240${round + 1}` }),
        });
        assert.equal(res.status, 200);
        const { submission_id } = await res.json();
        for (;;) {
          const [row] = await db.sql`select status from submissions where id = ${submission_id}`;
          if (row.status === "delivered") break;
          assert.ok(performance.now() - t0 < 10_000, `still ${row.status} after 10 s`);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      assert.equal(sim.received.filter((r) => r.path === "/api/dataValueSets").length, 3);
    } finally {
      assert.equal((await api.stop()).code, 0);
      assert.equal((await worker.stop()).code, 0);
      await sim.stop();
      await db.close();
    }
  },
);

dbTest(
  "two worker processes on one PostgreSQL deliver 2,000 submissions, each exactly once",
  async () => {
    const db = await createTestDb("replicas_workers");
    const sim = await startSimulator({ port: 0 });
    const env = {
      DHIS2GW_DB: db.url,
      DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: "admin",
      DHIS2GW_DHIS2_PASSWORD: "district",
      DHIS2GW_MAX_CONCURRENT: "8",
      DHIS2GW_REQUEST_PROCESS_INTERVAL: "1",
      DHIS2GW_LOG_LEVEL: "warn",
    };
    const workers = [0, 1].map(() => startServe(["serve", "--worker-only"], { env }));
    const N = 2000;
    try {
      // Stored as the submission route stores them, while both workers run.
      const { log } = captureLogger("warn");
      const notifier = new WorkNotifier(db.sql, log);
      for (let i = 0; i < N; i += 100) {
        await Promise.all(Array.from({ length: 100 }, async (_, j) => {
          await insertOne(db.sql, i + j);
          notifier.notify();
        }));
      }
      await notifier.close();
      const deadline = performance.now() + 120_000;
      for (;;) {
        const [r] = await db.sql`
          select count(*) filter (where status = 'delivered')::int as delivered from submissions`;
        if (r.delivered === N) break;
        assert.ok(performance.now() < deadline, `only ${r.delivered} of ${N} delivered`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const posted = sim.received.filter((r) => r.path === "/api/dataValueSets");
      const markers = posted.map((r) =>
        (r.body as { dataValues: Array<{ value: string }> }).dataValues[0].value
      );
      assert.equal(posted.length, N, "one POST per submission");
      assert.equal(new Set(markers).size, N, "no submission posted twice");
      const perWorker = await db.sql`
        select worker, count(*)::int as n from delivery_attempts group by worker`;
      assert.equal(perWorker.length, 2, "both processes delivered");
      const [{ max }] = await db.sql`select max(attempts)::int as max from deliveries`;
      assert.equal(max, 1);
    } finally {
      for (const w of workers) assert.equal((await w.stop()).code, 0);
      await sim.stop();
      await db.close();
    }
  },
);
