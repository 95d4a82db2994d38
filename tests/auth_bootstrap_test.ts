import assert from "node:assert/strict";
import { bootstrapAdmin, BootstrapError } from "../src/auth/bootstrap.ts";
import { loadJwtKey } from "../src/auth/keys.ts";
import { verifyPassword } from "../src/auth/password.ts";
import { loadConfig } from "../src/config/config.ts";
import { connect } from "../src/db/db.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const config = (env: Record<string, string> = {}) => loadConfig({ env }).config!;

dbTest("without DHIS2GW_ADMIN_PASSWORD a generated one is logged exactly once", async () => {
  const db = await createTestDb("auth_bootstrap_gen");
  try {
    const { log, lines } = captureLogger();
    const first = await bootstrapAdmin(db.sql, config(), log);
    assert.deepEqual(first, { created: true, generated: true });
    assert.equal(lines.length, 1);
    const m = /generated password (\S+) ; it is shown only this once/.exec(lines[0]);
    assert.ok(m, lines[0]);
    const password = m[1];
    assert.ok(password.length >= 24);
    const [row] = await db.sql`select username, role, password_hash from users`;
    assert.equal(row.username, "admin");
    assert.equal(row.role, "admin");
    assert.ok(await verifyPassword(password, row.password_hash));

    // The logger now scrubs it: no later line can repeat it.
    log.info(`echo ${password}`);
    assert.ok(!lines[1].includes(password));
    // A second start (or a second replica) creates nothing and prints nothing.
    const again = await bootstrapAdmin(db.sql, config(), log);
    assert.deepEqual(again, { created: false, generated: false });
    assert.equal(lines.length, 2);
  } finally {
    await db.close();
  }
});

dbTest(
  "replicas bootstrapping at once create one admin; a weak configured password stops start",
  async () => {
    const db = await createTestDb("auth_bootstrap_race");
    const pools = Array.from({ length: 4 }, () => connect({ url: db.url, max: 1 }));
    try {
      const cfg = config({
        DHIS2GW_ADMIN_USERNAME: "root_admin",
        DHIS2GW_ADMIN_PASSWORD: "a fine long password",
      });
      const results = await Promise.all(
        pools.map((p) => bootstrapAdmin(p, cfg, captureLogger().log)),
      );
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.ok(results.every((r) => !r.generated));
      const rows = await db.sql`select username from users`;
      assert.deepEqual(rows.map((r) => r.username), ["root_admin"]);

      const fresh = await createTestDb("auth_bootstrap_weak");
      try {
        const { log, lines } = captureLogger();
        await assert.rejects(
          bootstrapAdmin(fresh.sql, config({ DHIS2GW_ADMIN_PASSWORD: "admin12345" }), log),
          (err: Error) =>
            err instanceof BootstrapError &&
            /DHIS2GW_ADMIN_PASSWORD\) is too weak: it must not contain the username/.test(
              err.message,
            ) && !err.message.includes("admin12345"),
        );
        assert.deepEqual(lines, []);
        await assert.rejects(
          bootstrapAdmin(fresh.sql, config({ DHIS2GW_ADMIN_USERNAME: "a b" }), log),
          /auth\.admin_username \(env DHIS2GW_ADMIN_USERNAME\) must be 3-64 letters/,
        );
        const [{ n }] = await fresh.sql`select count(*)::int as n from users`;
        assert.equal(n, 0);
      } finally {
        await fresh.close();
      }
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await db.close();
    }
  },
);

dbTest("the JWT key: configured secret, else generated once and shared by replicas", async () => {
  const db = await createTestDb("auth_keys");
  const pools = Array.from({ length: 3 }, () => connect({ url: db.url, max: 1 }));
  try {
    const logs = pools.map(() => captureLogger());
    const keys = await Promise.all(pools.map((p, i) => loadJwtKey(p, config(), logs[i].log)));
    const text = keys.map((k) => new TextDecoder().decode(k));
    assert.equal(new Set(text).size, 1, "every replica has the same key");
    assert.ok(keys[0].length >= 32);
    const [{ value }] = await db.sql`select value from auth_settings where name = 'jwt_key'`;
    assert.equal(value, text[0]);
    assert.equal(logs.flatMap((l) => l.lines).filter((l) => l.includes("generated")).length, 1);
    for (const l of logs) {
      l.log.info(`key is ${text[0]}`);
      assert.ok(l.lines.every((line) => !line.includes(text[0])), "the key is scrubbed");
    }

    const secret = "s".repeat(40);
    const configured = await loadJwtKey(
      db.sql,
      config({ DHIS2GW_JWT_SECRET: secret }),
      captureLogger().log,
    );
    assert.equal(new TextDecoder().decode(configured), secret);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    await db.close();
  }
});
