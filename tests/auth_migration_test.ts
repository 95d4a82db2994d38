/**
 * Migration 0007 on a database that already holds API tokens without an expiry, and the start
 * of a gateway whose auth.token_max_lifetime_days is lower than what tokens have.
 */
import assert from "node:assert/strict";
import { AuthService } from "../src/auth/service.ts";
import { loadConfig } from "../src/config/config.ts";
import { loadMigrations, migrate } from "../src/db/migrate.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const DAY = 86_400_000;

dbTest("0007 gives never-expiring API tokens an expiry; start clamps to the setting", async () => {
  const db = await createTestDb("auth_migration_0007", { migrated: false });
  try {
    const code = await loadMigrations();
    const { log, lines } = captureLogger();
    await migrate(db.sql, log, code.filter((m) => m.version < 7));
    const [{ id: userId }] = await db.sql`
      insert into users (uid, username, password_hash, role)
      values ('a0123456789', 'bridge', 'scrypt$x', 'submitter') returning id`;
    const soon = new Date(Date.now() + 10 * DAY);
    await db.sql`
      insert into api_tokens (user_id, name, prefix, token_hash, expires) values
        (${userId}, 'never', 'p1', 'h1', null),
        (${userId}, 'far', 'p2', 'h2', '2099-01-01T00:00:00Z'),
        (${userId}, 'soon', 'p3', 'h3', ${soon})`;
    await migrate(db.sql, log, code);

    const days = async () =>
      Object.fromEntries(
        (await db.sql`
          select name, round(extract(epoch from expires - now()) / 86400)::int as d
          from api_tokens`).map((r) => [r.name, r.d]),
      );
    assert.deepEqual(await days(), { never: 365, far: 365, soon: 10 });

    const loaded = loadConfig({ env: { DHIS2GW_TOKEN_MAX_LIFETIME_DAYS: "30" } });
    const auth = await AuthService.create({ sql: db.sql, config: loaded.config!, log });
    await auth.close();
    assert.deepEqual(await days(), { never: 30, far: 30, soon: 10 });
    assert.ok(
      lines.some((l) => l.includes("API tokens shortened") && l.includes('"shortened":2')),
      lines.join("\n"),
    );
  } finally {
    await db.close();
  }
});
