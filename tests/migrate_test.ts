import assert from "node:assert/strict";
import { connect } from "../src/db/db.ts";
import { loadMigrations, migrate, MigrationError, migrationStatus } from "../src/db/migrate.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const { log } = captureLogger();

dbTest("migrate applies every migration once and is idempotent", async () => {
  const db = await createTestDb("migrate_once", { migrated: false });
  try {
    const code = await loadMigrations();
    assert.ok(code.length >= 1);
    assert.deepEqual(await migrationStatus(db.sql, code), {
      current: false,
      reason: "migrations have not been applied",
    });
    const first = await migrate(db.sql, log, code);
    assert.deepEqual(first.applied, code.map((m) => m.version));
    const second = await migrate(db.sql, log, code);
    assert.deepEqual(second.applied, []);
    assert.deepEqual(await migrationStatus(db.sql, code), { current: true });
    const rows = await db.sql`select version, checksum from schema_migrations order by version`;
    assert.deepEqual(
      rows.map((r) => [r.version, r.checksum]),
      code.map((m) => [m.version, m.checksum]),
    );
  } finally {
    await db.close();
  }
});

dbTest(
  "five pools migrating the same empty database at once apply each migration exactly once",
  async () => {
    const db = await createTestDb("migrate_race", { migrated: false });
    const pools = Array.from({ length: 5 }, () => connect({ url: db.url, max: 2 }));
    try {
      const results = await Promise.all(pools.map((p) => migrate(p, log)));
      const all = results.flatMap((r) => r.applied).sort((a, b) => a - b);
      const code = await loadMigrations();
      assert.deepEqual(all, code.map((m) => m.version));
      const [{ n }] = await db.sql`select count(*)::int as n from schema_migrations`;
      assert.equal(n, code.length);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await db.close();
    }
  },
);

dbTest("a changed applied migration or a database ahead of the code stops the start", async () => {
  const db = await createTestDb("migrate_drift");
  try {
    const code = await loadMigrations();
    const changed = code.map((m, i) => i === 0 ? { ...m, checksum: "0".repeat(64) } : m);
    await assert.rejects(() => migrate(db.sql, log, changed), (err: Error) => {
      assert.ok(err instanceof MigrationError);
      assert.match(err.message, /migration 1 \(request_log\) was changed after it was applied/);
      return true;
    });
    const status = await migrationStatus(db.sql, changed);
    assert.equal(status.current, false);
    assert.match(status.reason!, /was changed/);

    await db.sql`insert into schema_migrations (version, name, checksum, duration_ms)
      values (999, 'from_the_future', 'abc', 1)`;
    await assert.rejects(
      () => migrate(db.sql, log, code),
      /the database has migration 999 \(from_the_future\) but this build knows only up to \d+/,
    );
  } finally {
    await db.close();
  }
});

Deno.test("migration files are numbered uniquely and none seeds users or secrets", async () => {
  const code = await loadMigrations();
  code.slice(1).forEach((m, i) => assert.ok(m.version > code[i].version));
  for (const m of code) {
    assert.doesNotMatch(m.sql, /insert\s+into\s+(users|api_tokens?|user_apitoken)/i, m.name);
    assert.doesNotMatch(m.sql, /crypt\(|password\s*'|'@dm1n'/i, m.name);
  }
});
