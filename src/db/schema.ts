/**
 * dhis2gw keeps every table in its own PostgreSQL schema, `dhis2gw`, chosen per connection
 * through `search_path` (db.ts), so its SQL keeps unqualified names and never meets the tables
 * another program keeps in `public` of the same database: the old Go service's `users`,
 * `dhis2_mappings`, `submission_log` and golang-migrate's `schema_migrations` made the first
 * `serve` on its database fail in migration 0002.
 *
 * Installs from before the schema have their tables in `public`: they are moved, once, under
 * the migrations' advisory lock, before the ledger is read.
 */
import type { Logger } from "../logs/logger.ts";
import { DB_SCHEMA, pgCode, type Sql, type TransactionSql } from "./db.ts";

export { DB_SCHEMA };

/**
 * What migrations 0001–0010 created in `public` before the schema existed, with the migration
 * that created each: a table moves only if the ledger says dhis2gw created it, so a table of
 * the same name that belongs to someone else (the old service's `users`) stays where it is.
 * Later migrations run only after the move, in the schema, so this list does not grow.
 */
const PUBLIC_TABLES: ReadonlyArray<readonly [string, number]> = [
  ["request_log", 1],
  ["users", 2],
  ["api_tokens", 2],
  ["refresh_tokens", 2],
  ["auth_settings", 2],
  ["login_throttle", 2],
  ["dhis2_mappings", 3],
  ["dhis2_mapping_version", 3],
  ["submissions", 4],
  ["submission_attempts", 4],
  ["deliveries", 8],
  ["delivery_attempts", 8],
];
const PUBLIC_FUNCTIONS: ReadonlyArray<readonly [string, number]> = [
  ["dhis2_mappings_changed()", 3],
  ["submission_ordering_key(text, text)", 6],
  ["submission_status_rank(text)", 8],
  ["summarise_submissions()", 8],
];

export class SchemaError extends Error {}

async function exists(tx: TransactionSql, qualified: string): Promise<boolean> {
  const [r] = await tx`select to_regclass(${qualified}) is not null as found`;
  return r.found as boolean;
}

/** dhis2gw's ledger has a checksum column; golang-migrate's (the old service's) does not. */
async function publicLedgerIsOurs(tx: TransactionSql): Promise<boolean> {
  const [r] = await tx`
    select count(*) = 2 as ours from information_schema.columns
    where table_schema = 'public' and table_name = 'schema_migrations'
      and column_name in ('checksum', 'duration_ms')`;
  return r.ours as boolean;
}

/**
 * Creates the schema when missing and moves a pre-schema install into it. Runs inside the
 * migration lock (`lockKey`), so replicas starting together move it exactly once; the whole move
 * is one transaction, so a failure leaves everything where it was.
 */
export async function prepareSchema(sql: Sql, log: Logger, lockKey: number): Promise<void> {
  const moved = await sql.begin(async (tx) => {
    await tx`set local statement_timeout = 0`;
    await tx`select pg_advisory_xact_lock(${lockKey})`;
    const [ns] = await tx`select count(*)::int as n from pg_namespace where nspname = ${DB_SCHEMA}`;
    // Checked first: CREATE SCHEMA needs the CREATE privilege on the database even with
    // IF NOT EXISTS, and a DBA may have created the schema for a less privileged role.
    if (ns.n === 0) {
      await tx.unsafe(`create schema ${DB_SCHEMA}`).catch((err) => {
        if (pgCode(err) !== "42501") throw err;
        throw new SchemaError(
          `dhis2gw keeps its tables in schema ${DB_SCHEMA}, which this database user may not ` +
            `create: grant it CREATE on the database, or have an administrator run ` +
            `CREATE SCHEMA ${DB_SCHEMA} AUTHORIZATION <this user>`,
        );
      });
    }
    if (await exists(tx, `${DB_SCHEMA}.schema_migrations`)) return [];
    if (!await exists(tx, "public.schema_migrations") || !await publicLedgerIsOurs(tx)) return [];
    const applied = new Set(
      (await tx`select version from public.schema_migrations`).map((r) => Number(r.version)),
    );
    const names: string[] = [];
    for (const [table, version] of PUBLIC_TABLES) {
      if (!applied.has(version) || !await exists(tx, `public.${table}`)) continue;
      await tx.unsafe(`alter table public.${table} set schema ${DB_SCHEMA}`);
      names.push(table);
    }
    for (const [fn, version] of PUBLIC_FUNCTIONS) {
      const [r] = await tx`select to_regprocedure(${`public.${fn}`}) is not null as found`;
      if (!applied.has(version) || !r.found) continue;
      await tx.unsafe(`alter function public.${fn} set schema ${DB_SCHEMA}`);
      names.push(fn);
    }
    await tx.unsafe(`alter table public.schema_migrations set schema ${DB_SCHEMA}`);
    names.push("schema_migrations");
    return names;
  });
  if (moved.length) {
    log.info(`moved dhis2gw's tables from schema public into schema ${DB_SCHEMA}`, {
      moved: moved.length,
    });
  }
}

/**
 * The old Go service's own tables (by names no dhis2gw version ever used) are in `public` and
 * `import-go-service --apply` has not brought anything over yet.
 */
export async function goServiceNotImported(sql: Sql): Promise<boolean> {
  const [r] = await sql`
    select to_regclass('public.submission_log') is not null
        or to_regclass('public.user_apitoken') is not null as old,
       to_regclass('go_service_imports') is not null as ledger`;
  if (!r.old) return false;
  if (!r.ledger) return true;
  const [i] = await sql`select exists (select from go_service_imports) as imported`;
  return !i.imported;
}

/** The line `serve` and every other command print on a database the old service used. */
export const GO_SERVICE_NOTICE =
  "this database also holds the old Go service's tables (users, user_apitoken, dhis2_mappings, " +
  "submission_log in schema public); dhis2gw keeps its own in schema dhis2gw and does not read " +
  "them, and serve creates no first admin meanwhile: bring the old users, tokens, mappings and " +
  "history over with `dhis2gw import-go-service --from <old database URI>` (a dry run; add " +
  "--apply to write)";
