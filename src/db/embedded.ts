import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import type { Logger } from "../logs/logger.ts";

export interface Embedded {
  url: string;
  stop(): Promise<void>;
}

export class DataDirLockedError extends Error {}

/**
 * Starts PGlite on `<dataDir>/pg` and serves it to postgres.js on loopback.
 *
 * pglite-socket funnels every client connection into one backend session: transactions are
 * serialized (safe) but advisory locks do not exclude and NOTIFY does not reach other
 * connections. So a second process must never open the same folder: we hold an exclusive
 * lock on `<dataDir>/dhis2gw.lock` for as long as the database is open.
 */
export async function startEmbedded(dataDir: string, log: Logger): Promise<Embedded> {
  await Deno.mkdir(dataDir, { recursive: true });
  const lockPath = `${dataDir}/dhis2gw.lock`;
  const lock = await Deno.open(lockPath, { read: true, write: true, create: true });
  if (!(await lock.tryLock(true))) {
    lock.close();
    let holder = "";
    try {
      holder = (await Deno.readTextFile(lockPath)).trim();
    } catch { /* unreadable: say less */ }
    throw new DataDirLockedError(
      `the data folder ${dataDir} is in use by another dhis2gw process${
        holder ? ` (pid ${holder})` : ""
      }; stop it first, or point DHIS2GW_DATA_DIR elsewhere, or use PostgreSQL via DHIS2GW_DB`,
    );
  }
  await lock.truncate(0);
  await lock.write(new TextEncoder().encode(`${Deno.pid}\n`));

  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  try {
    db = await PGlite.create({ dataDir: `${dataDir}/pg` });
    // pglite-socket accepts one connection unless told otherwise; a second one (two queries at
    // once, e.g. a cache refresh during a request) then waits until the first closes, up to the
    // pool's 60 s idle timeout. More than the pool's 4 (src/db/open.ts): its queue still runs
    // one query at a time and keeps a transaction's statements together.
    server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 8 });
    await server.start();
  } catch (err) {
    await server?.stop().catch(() => {});
    await db?.close().catch(() => {});
    await lock.unlock().catch(() => {});
    lock.close();
    throw err;
  }
  const conn = server.getServerConn();
  log.debug("embedded database listening", { address: conn });
  let stopped = false;
  return {
    url: `postgres://postgres@${conn}/postgres?sslmode=disable`,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server!.stop();
      // close() checkpoints and flushes the WAL, so the next start finds a clean folder.
      await db!.close();
      await lock.unlock();
      lock.close();
    },
  };
}
