import assert from "node:assert/strict";
import { loadMigrations } from "../src/db/migrate.ts";
import { portFrom, startServe } from "./support/cli.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

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
