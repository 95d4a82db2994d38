import type { Config } from "../config/config.ts";
import { redactUrl } from "../config/config.ts";
import type { Logger } from "../logs/logger.ts";
import { connect, type Sql } from "./db.ts";
import { startEmbedded } from "./embedded.ts";

export interface Database {
  sql: Sql;
  /** True on the embedded PostgreSQL server (a real server: it behaves as production does). */
  embedded: boolean;
  close(): Promise<void>;
}

export interface OpenOptions {
  /**
   * A CLI command run while a gateway serves the same data folder uses that gateway's embedded
   * server; `serve` refuses a folder another gateway holds.
   */
  shareRunning?: boolean;
}

/**
 * PostgreSQL from `database.uri`, or the embedded PostgreSQL under `<data_dir>/postgres` when
 * none is set.
 */
export async function openDatabase(
  cfg: Readonly<Config>,
  log: Logger,
  opts: OpenOptions = {},
): Promise<Database> {
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
  const embedded = await startEmbedded({
    dataDir: cfg.server.data_dir,
    osUser: cfg.database.embedded_os_user,
    shareRunning: opts.shareRunning ?? false,
  }, log);
  if (embedded.owner) {
    log.info(
      `using the embedded database in ${cfg.server.data_dir}/postgres (for production set DHIS2GW_DB=postgres://user:pass@host/db or database.uri to use a PostgreSQL server)`,
    );
  }
  // `path` replaces the URL's host and port; the socket folder is private, so no password.
  const sql = connect({
    url: "postgres://postgres@localhost/postgres?sslmode=disable",
    path: embedded.socket,
    max: cfg.database.pool_max,
    log,
    timeouts: cfg.database,
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
