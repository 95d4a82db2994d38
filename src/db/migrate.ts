import type { Logger } from "../logs/logger.ts";
import type { Sql } from "./db.ts";
import { GO_SERVICE_NOTICE, goServiceNotImported, prepareSchema } from "./schema.ts";

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

/** Found relative to the code, never the working directory, so a compiled binary works anywhere. */
export const MIGRATIONS_DIR = new URL("../../migrations/", import.meta.url);

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;
// Any fixed 64-bit key; every replica uses the same one.
export const LOCK_KEY = 7_216_020_555_001;

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const out: Migration[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const m = entry.isFile ? FILE_PATTERN.exec(entry.name) : null;
    if (!m) continue;
    const text = await Deno.readTextFile(new URL(entry.name, dir));
    out.push({ version: Number(m[1]), name: m[2], sql: text, checksum: await sha256(text) });
  }
  out.sort((a, b) => a.version - b.version);
  for (let i = 1; i < out.length; i++) {
    if (out[i].version === out[i - 1].version) {
      throw new Error(`two migrations share the number ${out[i].version}`);
    }
  }
  return out;
}

export class MigrationError extends Error {}

interface LedgerRow {
  version: number;
  name: string;
  checksum: string;
}

async function ensureLedger(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${LOCK_KEY})`;
    await tx`
      create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now(),
        duration_ms integer not null
      )`;
  });
}

function compare(ledger: LedgerRow[], code: Migration[]): string[] {
  const problems: string[] = [];
  const byVersion = new Map(code.map((m) => [m.version, m]));
  const latest = code.length ? code[code.length - 1].version : 0;
  for (const row of ledger) {
    const m = byVersion.get(row.version);
    if (!m) {
      problems.push(
        `the database has migration ${row.version} (${row.name}) but this build knows only up to ${latest}: run a newer dhis2gw, never an older one, against this database`,
      );
    } else if (m.checksum !== row.checksum) {
      problems.push(
        `migration ${row.version} (${row.name}) was changed after it was applied (checksum ${
          row.checksum.slice(0, 12)
        } in the database, ${
          m.checksum.slice(0, 12)
        } in this build); migrations are forward-only: add a new one instead`,
      );
    }
  }
  return problems;
}

/**
 * Applies pending migrations, each in its own transaction that first takes a cluster-wide
 * advisory lock and re-reads the ledger: replicas starting together apply each one exactly once.
 */
export async function migrate(
  sql: Sql,
  log: Logger,
  code?: Migration[],
): Promise<{ applied: number[] }> {
  const migrations = code ?? await loadMigrations();
  await prepareSchema(sql, log, LOCK_KEY);
  await ensureLedger(sql);
  const applied: number[] = [];
  for (const m of migrations) {
    const done = await sql.begin(async (tx) => {
      // A migration (or the wait for another replica's) may outlast database.statement_timeout.
      await tx`set local statement_timeout = 0`;
      await tx`select pg_advisory_xact_lock(${LOCK_KEY})`;
      const ledger = await tx<
        LedgerRow[]
      >`select version, name, checksum from schema_migrations order by version`;
      const problems = compare(ledger, migrations);
      if (problems.length) throw new MigrationError(problems.join("; "));
      if (ledger.some((r) => r.version === m.version)) return false;
      const started = performance.now();
      await tx.unsafe(m.sql);
      await tx`
        insert into schema_migrations (version, name, checksum, duration_ms)
        values (${m.version}, ${m.name}, ${m.checksum}, ${
        Math.round(performance.now() - started)
      })`;
      return true;
    });
    if (done) {
      applied.push(m.version);
      log.info("applied migration", { version: m.version, name: m.name });
    }
  }
  // Also catches a database ahead of the code when nothing was pending.
  const problems = compare(
    await sql<LedgerRow[]>`select version, name, checksum from schema_migrations`,
    migrations,
  );
  if (problems.length) throw new MigrationError(problems.join("; "));
  if (await goServiceNotImported(sql)) log.warn(GO_SERVICE_NOTICE);
  return { applied };
}

/** For /ready: are all migrations of this build applied, and nothing unknown? */
export async function migrationStatus(
  sql: Sql,
  code: Migration[],
): Promise<{ current: boolean; reason?: string }> {
  const exists = await sql`select to_regclass('schema_migrations') as t`;
  if (!exists[0].t) return { current: false, reason: "migrations have not been applied" };
  const ledger = await sql<LedgerRow[]>`select version, name, checksum from schema_migrations`;
  const problems = compare(ledger, code);
  if (problems.length) return { current: false, reason: problems.join("; ") };
  const pending = code.filter((m) => !ledger.some((r) => r.version === m.version));
  if (pending.length) {
    return {
      current: false,
      reason: `${pending.length} migration(s) pending, first ${pending[0].version}`,
    };
  }
  return { current: true };
}
