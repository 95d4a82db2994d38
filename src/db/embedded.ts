import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import type { Logger } from "../logs/logger.ts";

export interface Embedded {
  /** The Unix socket postgres.js connects through (postgres.js's `path` option). */
  socket: string;
  stop(): Promise<void>;
}

export class DataDirLockedError extends Error {}

/** The name psql and libpq look for in a socket directory: `psql -h <dir> -U postgres`. */
const SOCKET_NAME = ".s.PGSQL.5432";
// sun_path holds 108 bytes on Linux and 104 on macOS, counting the final NUL; a longer path
// fails to bind with EINVAL.
const MAX_SOCKET_PATH = 103;

/**
 * Starts PGlite on `<dataDir>/pg` and serves it to postgres.js on a Unix socket that only this
 * OS user can open: `<dataDir>/pg-socket/.s.PGSQL.5432`, mode 0600 in a directory of mode 0700
 * (or in a 0700 temporary folder when that path is too long for a socket).
 * PGlite has no passwords, and the database holds the JWT signing key, so a TCP port on loopback
 * would let any local user read it (and forge an admin token).
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
  let socket: PrivateSocket | undefined;
  try {
    // PGlite writes its files with mode 0666 and its folders 0755: without a private parent,
    // any local user could read the JWT signing key straight from the files.
    await Deno.mkdir(`${dataDir}/pg`, { recursive: true, mode: 0o700 });
    await Deno.chmod(`${dataDir}/pg`, 0o700);
    db = await PGlite.create({ dataDir: `${dataDir}/pg` });
    socket = await privateSocket(dataDir, log);
    // pglite-socket accepts one connection unless told otherwise; a second one (two queries at
    // once, e.g. a cache refresh during a request) then waits until the first closes, up to the
    // pool's 60 s idle timeout. More than the pool's 4 (src/db/open.ts): its queue still runs
    // one query at a time and keeps a transaction's statements together.
    server = new PGLiteSocketServer({ db, path: socket.path, maxConnections: 8 });
    await server.start();
    // The 0700 folder already keeps other users out; 0600 still does if its mode is widened.
    await Deno.chmod(socket.path, 0o600);
  } catch (err) {
    await server?.stop().catch(() => {});
    await socket?.remove().catch(() => {});
    await db?.close().catch(() => {});
    await lock.unlock().catch(() => {});
    lock.close();
    throw err;
  }
  log.debug("embedded database listening", { socket: socket.path });
  let stopped = false;
  return {
    socket: socket.path,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server!.stop();
      // A leftover is removed at the next start; it must not keep the data from being flushed.
      await socket!.remove().catch((err) =>
        log.warn("could not remove the embedded database's socket", { error: String(err) })
      );
      // close() checkpoints and flushes the WAL, so the next start finds a clean folder.
      await db!.close();
      await lock.unlock();
      lock.close();
    },
  };
}

interface PrivateSocket {
  path: string;
  /** Removes the socket file and its directory. */
  remove(): Promise<void>;
}

/**
 * A socket path in a directory that we create with mode 0700, so no other user can enter it.
 * Called with the data folder locked: what is already there was left by a process that died
 * without closing it.
 */
async function privateSocket(dataDir: string, log: Logger): Promise<PrivateSocket> {
  const inData = `${await Deno.realPath(dataDir)}/pg-socket`;
  if (new TextEncoder().encode(`${inData}/${SOCKET_NAME}`).length <= MAX_SOCKET_PATH) {
    if (await removeIfThere(`${inData}/${SOCKET_NAME}`)) {
      log.debug("removed a stale embedded database socket", { socket: `${inData}/${SOCKET_NAME}` });
    }
    // Made afresh every start, so it is ours and 0700 whoever made the old one. Not recursive:
    // anything else in it is not ours to delete, and then the start stops with that error.
    await removeIfThere(inData);
    await Deno.mkdir(inData, { mode: 0o700 });
    return privateIn(inData);
  }
  // makeTempDir creates the directory with mode 0700.
  const tmp = await Deno.makeTempDir({ prefix: "dhis2gw-" });
  if (new TextEncoder().encode(`${tmp}/${SOCKET_NAME}`).length > MAX_SOCKET_PATH) {
    await Deno.remove(tmp);
    throw new Error(
      `no path short enough for the embedded database's socket (at most ${MAX_SOCKET_PATH} bytes) in ${inData} or ${tmp}; use a shorter DHIS2GW_DATA_DIR or TMPDIR`,
    );
  }
  log.debug("the data folder's path is too long for a Unix socket; using a temporary folder", {
    socket: `${tmp}/${SOCKET_NAME}`,
  });
  return privateIn(tmp);
}

async function privateIn(dir: string): Promise<PrivateSocket> {
  // mkdir's mode is filtered by the umask, which can only take bits away; make it exact.
  await Deno.chmod(dir, 0o700);
  const path = `${dir}/${SOCKET_NAME}`;
  return {
    path,
    remove: async () => {
      await removeIfThere(path);
      await removeIfThere(dir);
    },
  };
}

/** True when there was something to remove. */
async function removeIfThere(path: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
