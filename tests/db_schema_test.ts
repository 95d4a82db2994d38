/**
 * dhis2gw's tables live in schema `dhis2gw` (src/db/schema.ts): an install from before the schema
 * (tables in `public`) is moved once, data, identities and triggers intact, and a database that
 * holds the old Go service's tables is left alone and pointed at `import-go-service`.
 */
import assert from "node:assert/strict";
import { bootstrapAdmin } from "../src/auth/bootstrap.ts";
import { loadConfig } from "../src/config/config.ts";
import { connect, type Sql } from "../src/db/db.ts";
import { loadMigrations, migrate, migrationStatus } from "../src/db/migrate.ts";
import { DB_SCHEMA, GO_SERVICE_NOTICE, SchemaError } from "../src/db/schema.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { createOldServiceSchema } from "./support/go_service.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

/** Migrations 0001–0010 applied as the builds before the schema did: everything in public. */
async function preSchemaInstall(url: string): Promise<void> {
  const pub = connect({ url, max: 2, searchPath: "public" });
  try {
    const code = (await loadMigrations()).filter((m) => m.version <= 10);
    await migrate(pub, captureLogger().log, code);
    // The migrate above made an empty dhis2gw schema on its way; the old builds never did.
    await pub.unsafe(`drop schema ${DB_SCHEMA}`);
    await pub`insert into users (uid, username, password_hash, role)
      values ('uOldAdmin01', 'oldadmin', 'scrypt$x', 'admin')`;
    await pub`insert into dhis2_mappings (uid, code, dataelement)
      values ('mOldMap0001', 'ANC1', 'deAnc000001')`;
    const [s] = await pub`insert into submissions (user_uid, username, source_name, request_hash,
        org_unit, period, data_set, request, payload, codes, kind)
      values ('uOldAdmin01', 'oldadmin', 'default', 'h', 'ouAAAAAAAAA', '202401', 'dsAAAAAAAAA',
        '{}', '{}', '{}', 'aggregate') returning id`;
    await pub`insert into deliveries (submission_id, kind, ordering_key, max_attempts)
      values (${s.id}, 'aggregate', 'ouAAAAAAAAA|202401', 9)`;
  } finally {
    await pub.end();
  }
}

async function tablesIn(sql: Sql, schema: string): Promise<string[]> {
  const rows = await sql`select tablename from pg_tables where schemaname = ${schema}
    order by tablename`;
  return rows.map((r) => r.tablename as string);
}

dbTest("an install with its tables in public moves into schema dhis2gw once", async () => {
  const db = await createTestDb("schema_move", { migrated: false });
  const pools = Array.from({ length: 3 }, () => connect({ url: db.url, max: 2 }));
  try {
    await preSchemaInstall(db.url);
    const { log, lines } = captureLogger();
    // Three replicas starting together: the move happens once, then only 0011 is applied.
    const results = await Promise.all(pools.map((p) => migrate(p, log)));
    const code = await loadMigrations();
    const later = code.filter((m) => m.version > 10).map((m) => m.version);
    assert.deepEqual(results.flatMap((r) => r.applied).sort((a, b) => a - b), later);
    assert.equal(lines.filter((l) => l.includes("into schema dhis2gw")).length, 1);
    assert.deepEqual(await tablesIn(db.sql, "public"), []);
    assert.deepEqual(await tablesIn(db.sql, DB_SCHEMA), [
      "api_tokens",
      "auth_settings",
      "deliveries",
      "delivery_attempts",
      "dhis2_mapping_version",
      "dhis2_mappings",
      "go_service_imports",
      "login_throttle",
      "refresh_tokens",
      "request_log",
      "schema_migrations",
      "submissions",
      "users",
    ]);
    const [fns] = await db.sql`select count(*)::int as n from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'
      and p.proname in ('dhis2_mappings_changed', 'submission_status_rank',
                        'summarise_submissions')`;
    assert.equal(fns.n, 0, "the functions moved too");
    assert.deepEqual(await migrationStatus(db.sql, code), { current: true });

    // The data came along, identities continue after it, and the triggers still fire.
    const [u] = await db.sql`select username from users where uid = 'uOldAdmin01'`;
    assert.equal(u.username, "oldadmin");
    const [v0] = await db.sql`select version from dhis2_mapping_version`;
    const [m] = await db.sql`insert into dhis2_mappings (uid, code, dataelement)
      values ('mNewMap0001', 'ANC2', 'deAnc000002') returning id`;
    assert.equal(m.id, 2);
    const [v1] = await db.sql`select version from dhis2_mapping_version`;
    assert.equal(v1.version, v0.version + 1);
    await db.sql`update deliveries set status = 'delivered', finished_at = now()`;
    const [s] = await db.sql`select status from submissions`;
    assert.equal(s.status, "delivered", "summarise_submissions still runs");
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    await db.close();
  }
});

dbTest(
  "on the old Go service's database dhis2gw migrates beside its tables and names the import",
  async () => {
    const db = await createTestDb("schema_goservice", { migrated: false });
    const pub = connect({ url: db.url, max: 1, searchPath: "public" });
    try {
      await createOldServiceSchema(pub);
      const before = await tablesIn(db.sql, "public");
      const { log, lines } = captureLogger();
      const code = await loadMigrations();
      assert.deepEqual((await migrate(db.sql, log)).applied, code.map((m) => m.version));
      assert.deepEqual(await tablesIn(db.sql, "public"), before, "the old tables are untouched");
      const [old] = await pub`select count(*)::int as n from schema_migrations`;
      assert.equal(old.n, 1, "golang-migrate's ledger keeps its row");
      const notice = lines.filter((l) => l.includes("import-go-service"));
      assert.equal(notice.length, 1);
      assert.equal(JSON.parse(notice[0]).msg, GO_SERVICE_NOTICE);
      // No first admin meanwhile: the old admin, imported, keeps its name and password.
      const cfg = loadConfig({ env: { DHIS2GW_ADMIN_PASSWORD: "a-strong-first-password" } });
      assert.deepEqual(await bootstrapAdmin(db.sql, cfg.config!, log), {
        created: false,
        generated: false,
      });
      const [users] = await db.sql`select count(*)::int as n from users`;
      assert.equal(users.n, 0);
      // Once something was imported the notice stops.
      await db.sql`insert into go_service_imports (kind, old_id, new_id) values ('user', 1, 1)`;
      const again = captureLogger();
      await migrate(db.sql, again.log);
      assert.equal(again.lines.filter((l) => l.includes("import-go-service")).length, 0);
    } finally {
      await pub.end();
      await db.close();
    }
  },
);

dbTest("a database user that may not create the schema is told what to grant", async () => {
  const db = await createTestDb("schema_noperm", { migrated: false });
  // Cluster-wide, left behind with the throwaway cluster.
  const role = `noschema_${crypto.randomUUID().slice(0, 8)}`;
  await db.sql.unsafe(`create role ${role} login`);
  const url = new URL(db.url);
  url.username = role;
  url.password = "";
  const weak = connect({ url: url.toString(), max: 1 });
  try {
    await assert.rejects(() => migrate(weak, captureLogger().log), (err: Error) => {
      assert.ok(err instanceof SchemaError, String(err));
      assert.match(err.message, /CREATE SCHEMA dhis2gw AUTHORIZATION <this user>/);
      return true;
    });
    // Once an administrator made the schema for it, the same user migrates.
    await db.sql.unsafe(`create schema ${DB_SCHEMA} authorization ${role}`);
    const { applied } = await migrate(weak, captureLogger().log);
    assert.equal(applied.length, (await loadMigrations()).length);
  } finally {
    await weak.end();
    await db.close();
  }
});
