import type { Config } from "../config/config.ts";
import { redactUrl } from "../config/config.ts";
import type { Logger } from "../logs/logger.ts";
import { connect, type Sql } from "./db.ts";
import { startEmbedded } from "./embedded.ts";

export interface Database {
  sql: Sql;
  /** True on the embedded PGlite: no cross-connection NOTIFY, no advisory-lock exclusion. */
  embedded: boolean;
  close(): Promise<void>;
}

/** PostgreSQL from `database.uri`, or the embedded PGlite under `<data_dir>/pg` when none is set. */
export async function openDatabase(cfg: Readonly<Config>, log: Logger): Promise<Database> {
  if (cfg.database.uri) {
    const sql = connect({
      url: cfg.database.uri,
      max: cfg.database.pool_max,
      log,
      timeouts: cfg.database,
    });
    log.info("using PostgreSQL", { database: redactUrl(cfg.database.uri) });
    return { sql, embedded: false, close: () => sql.end({ timeout: 5 }) };
  }
  const dir = `${cfg.server.data_dir}/pg`;
  const embedded = await startEmbedded(cfg.server.data_dir, log);
  log.info(
    `using the embedded database in ${dir} (for production set DHIS2GW_DB=postgres://user:pass@host/db or database.uri to use a PostgreSQL server)`,
  );
  // One backend session serves every connection, so a big pool buys nothing.
  // `path` replaces the URL's host and port; PGlite takes any user and no password.
  const sql = connect({
    url: "postgres://postgres@localhost/postgres?sslmode=disable",
    path: embedded.socket,
    max: 4,
    log,
  });
  return {
    sql,
    embedded: true,
    close: async () => {
      await sql.end({ timeout: 5 });
      await embedded.stop();
    },
  };
}
