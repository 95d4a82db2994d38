/**
 * Real PostgreSQL for tests: each test file gets its own database on the server named by
 * DHIS2GW_TEST_DATABASE_URL (set by `deno task test`, which starts a throwaway cluster).
 */
import postgres from "postgres";
import { connect, type Sql } from "../../src/db/db.ts";
import { migrate } from "../../src/db/migrate.ts";
import { captureLogger } from "../../src/logs/logger.ts";

export const PG_URL = Deno.env.get("DHIS2GW_TEST_DATABASE_URL");
export const PG_SKIP_REASON = PG_URL ? undefined : (Deno.env.get("DHIS2GW_TEST_SKIP_REASON") ??
  "DHIS2GW_TEST_DATABASE_URL is not set (run the tests with `deno task test`)");

export interface TestDb {
  url: string;
  name: string;
  sql: Sql;
  close(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates a fresh, empty database (migrated unless `migrated: false`) and a pool on it. */
export async function createTestDb(
  label: string,
  opts: { migrated?: boolean; max?: number } = {},
): Promise<TestDb> {
  if (!PG_URL) throw new Error(PG_SKIP_REASON);
  const name = `t_${label.replace(/[^a-z0-9_]/gi, "_").toLowerCase()}_${
    crypto.randomUUID().slice(0, 8)
  }`;
  const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  await admin.end();
  const url = withDatabase(PG_URL, name);
  const sql = connect({ url, max: opts.max ?? 10 });
  if (opts.migrated !== false) await migrate(sql, captureLogger().log);
  return {
    url,
    name,
    sql,
    close: async () => {
      await sql.end({ timeout: 5 });
      const a = postgres(PG_URL, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists "${name}" with (force)`).catch(() => {});
      await a.end();
    },
  };
}

/** Deno.test for tests that need PostgreSQL: reported as skipped, with the reason, without it. */
export function dbTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({
    name: PG_URL ? name : `${name} (skipped: ${PG_SKIP_REASON})`,
    ignore: !PG_URL,
    // postgres.js pools outlive a single test by design.
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });
}
