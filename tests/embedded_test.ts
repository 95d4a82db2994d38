import assert from "node:assert/strict";
import postgres from "postgres";
import { DB_SCHEMA } from "../src/db/schema.ts";
import { portFrom, runCli, type ServeProcess, startServe } from "./support/cli.ts";

const ENV = { DHIS2GW_SERVER_PORT: "0", DHIS2GW_HOST: "127.0.0.1", DHIS2GW_SHUTDOWN_GRACE: "3" };

Deno.test({
  name: "embedded default: serves, refuses a second process, stops cleanly on SIGTERM, keeps data",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await tempDir();
    const env = { ...ENV, DHIS2GW_DATA_DIR: `${dir}/data` };
    try {
      const first = startServe(["serve"], { env });
      const listening = await first.waitFor(/"msg":"listening"/, 60_000);
      assert.ok(
        first.lines.some((l) => /using the embedded database in .*DHIS2GW_DB=/.test(l)),
        "one log line says it is embedded and how to switch",
      );
      const base = `http://127.0.0.1:${portFrom(listening)}`;
      const ready = await fetch(`${base}/ready`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { status: "ready" });
      const miss = await fetch(`${base}/api/v3/embedded-marker`, {
        headers: { "X-Request-Id": "marker-1" },
      });
      await miss.body?.cancel();

      const second = await runCli(["serve"], { env });
      assert.equal(second.code, 1);
      assert.match(
        second.stderr,
        /data folder .* is in use by another dhis2gw process \(pid \d+\)/,
      );

      const t0 = performance.now();
      const status = await first.stop("SIGTERM");
      assert.equal(status.code, 0);
      assert.ok(performance.now() - t0 < 5000, "exits within 5 s");
      assert.equal(await postmasterPid(`${dir}/data`), undefined, "the server stopped with it");

      // Restart: the same data, no migration applied again.
      const again = startServe(["serve"], { env });
      const l2 = await again.waitFor(/"msg":"listening"/, 60_000);
      assert.ok(!again.lines.some((l) => l.includes("applied migration")));
      const r2 = await fetch(`http://127.0.0.1:${portFrom(l2)}/ready`);
      assert.equal(r2.status, 200);
      await r2.body?.cancel();
      // What the first run wrote (the buffered request log) is there, read over the socket.
      const sql = postgres({
        path: `${dir}/data/pg-socket/.s.PGSQL.5432`,
        user: "postgres",
        max: 1,
        connection: { search_path: DB_SCHEMA },
      });
      const rows = await sql`select status from request_log where request_id = 'marker-1'`;
      await sql.end();
      // /api/v3 authenticates before routing, so the unknown path is a 401 in the audit log.
      assert.deepEqual([...rows], [{ status: 401 }]);
      assert.equal((await again.stop("SIGINT")).code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A temporary folder the server's OS user may walk through when the tests run as root. */
async function tempDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dhis2gw-embedded-" });
  await Deno.chmod(dir, 0o755);
  return dir;
}

/** The running postmaster of a data folder, from its pid file; undefined when none runs. */
async function postmasterPid(dataDir: string): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(`${dataDir}/postgres/postmaster.pid`)).split("\n")[0]);
  } catch {
    return undefined;
  }
  return (await psField(pid, "comm")).includes("postgres") ? pid : undefined;
}

/** One `ps` column of a process ("" when it is gone). */
async function psField(pid: number, field: string): Promise<string> {
  const out = await new Deno.Command("ps", {
    args: ["-o", `${field}=`, "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  return text(out.stdout).trim();
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * Ports `pid` listens on over TCP (IPv4 and IPv6), from /proc; undefined off Linux (no /proc).
 * Read by a shell: Deno grants /proc/<pid> only with --allow-all. An fd closing mid-scan is
 * fine: the HTTP port must still be found, which the callers assert.
 */
async function tcpListenPorts(pid: number): Promise<number[] | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      "readlink /proc/$1/fd/*; cat /proc/$1/net/tcp || exit 1; cat /proc/$1/net/tcp6; exit 0",
      "sh",
      `${pid}`,
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.ok(out.success, `could not read /proc/${pid}`);
  const lines = text(out.stdout).split("\n");
  const inodes = new Set(lines.flatMap((l) => /^socket:\[(\d+)\]$/.exec(l)?.[1] ?? []));
  const ports = new Set<number>();
  for (const line of lines) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    const f = line.trim().split(/\s+/);
    if (f[3] === "0A" && inodes.has(f[9])) ports.add(parseInt(f[1].split(":").at(-1)!, 16));
  }
  return [...ports].sort((a, b) => a - b);
}

/** psql from PATH or from the test runner's PostgreSQL binaries, if there is one. */
async function findPsql(): Promise<string | undefined> {
  const dirs = (Deno.env.get("PATH") ?? "").split(":");
  dirs.push(Deno.env.get("DHIS2GW_TEST_PG_BIN") ?? "");
  for (const dir of dirs.filter(Boolean)) {
    try {
      if ((await Deno.stat(`${dir}/psql`)).isFile) return `${dir}/psql`;
    } catch { /* not here */ }
  }
  return undefined;
}

/** Reads auth_settings through the socket in `socketDir`; `as` runs psql as that OS user. */
function psql(bin: string, socketDir: string, as?: string): Promise<Deno.CommandOutput> {
  const args = ["-h", socketDir, "-U", "postgres", "-d", "postgres", "-Atc"];
  args.push(`select count(*) from ${DB_SCHEMA}.auth_settings`);
  return new Deno.Command(as ? "runuser" : bin, {
    args: as ? ["-u", as, "--", bin, ...args] : args,
    stdout: "piped",
    stderr: "piped",
  }).output();
}

const mode = async (path: string) => ((await Deno.lstat(path)).mode ?? 0) & 0o777;

/** Stops, after a failed assertion, what a test started, so it leaves no socket behind. */
function processes() {
  const all: ServeProcess[] = [];
  return {
    started: (p: ServeProcess) => (all.push(p), p),
    stopAll: () => Promise.all(all.map((p) => p.stop("SIGTERM"))),
  };
}

Deno.test({
  name:
    "embedded: no TCP port; a socket in a 0700 folder other users cannot open; a server of its own session, not root",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const { started, stopAll } = processes();
    // Other users may walk up to the data folder, as under /srv: only our modes keep them out.
    const dir = await tempDir();
    const env = { ...ENV, DHIS2GW_DATA_DIR: `${dir}/data` };
    const socketDir = `${dir}/data/pg-socket`;
    try {
      const serve = started(startServe(["serve"], { env }));
      const httpPort = portFrom(await serve.waitFor(/"msg":"listening"/, 60_000));
      const ready = await fetch(`http://127.0.0.1:${httpPort}/ready`);
      assert.equal(ready.status, 200);
      await ready.body?.cancel();

      const pm = await postmasterPid(`${dir}/data`);
      assert.ok(pm, "a postmaster runs");
      const ports = await tcpListenPorts(serve.child.pid);
      if (ports) assert.deepEqual(ports, [httpPort], "the only TCP port is the HTTP one");
      const pgPorts = await tcpListenPorts(pm);
      if (pgPorts) assert.deepEqual(pgPorts, [], "the database listens on no TCP port");
      // Its own session: a Ctrl-C to the gateway's process group does not reach it.
      assert.notEqual(await psField(pm, "sid"), await psField(serve.child.pid, "sid"));
      if (Deno.uid() === 0) {
        assert.equal(await psField(pm, "user"), "dhis2gw", "as root, the server runs as dhis2gw");
      }

      assert.equal(await mode(socketDir), 0o700);
      const info = await Deno.lstat(`${socketDir}/.s.PGSQL.5432`);
      assert.ok(info.isSocket, "a Unix socket");
      assert.equal(await mode(`${socketDir}/.s.PGSQL.5432`), 0o700);
      assert.equal(await mode(`${dir}/data/postgres`), 0o700);

      const psqlBin = await findPsql();
      await t.step({
        name: "the nobody user cannot connect (needs root and psql; CI runs as root)",
        ignore: Deno.uid() !== 0 || !psqlBin,
        fn: async () => {
          const own = await psql(psqlBin!, socketDir);
          assert.equal(own.code, 0, text(own.stderr));
          assert.equal(text(own.stdout).trim(), "1", "the owner reads auth_settings");
          const other = await psql(psqlBin!, socketDir, "nobody");
          assert.notEqual(other.code, 0, "nobody got in");
          assert.match(text(other.stderr), /Permission denied/);
        },
      });

      await t.step("a CLI command uses the running gateway's server", async () => {
        const users = await runCli(["user", "list"], { env });
        assert.equal(users.code, 0, users.stderr);
        assert.match(users.stdout, /\badmin\b/);
        assert.equal(await postmasterPid(`${dir}/data`), pm, "the same server, still running");
      });

      await t.step("a server that dies is started again", async () => {
        Deno.kill(pm, "SIGKILL");
        await serve.waitFor(/"the embedded PostgreSQL is running again"/, 60_000);
        const r = await fetch(`http://127.0.0.1:${httpPort}/ready`);
        assert.equal(r.status, 200);
        await r.body?.cancel();
      });

      // kill -9 of the gateway leaves its server running (its own session). The next start
      // (here the CLI, through open.ts) finds it through postmaster.pid and stops it.
      const orphan = await postmasterPid(`${dir}/data`);
      assert.ok(orphan);
      assert.equal((await serve.stop("SIGKILL")).code, 137);
      assert.equal(await postmasterPid(`${dir}/data`), orphan, "left running by the kill");
      const migrated = await runCli(["migrate"], { env });
      assert.equal(migrated.code, 0, migrated.stderr);
      assert.match(migrated.stderr + migrated.stdout, /left running by an earlier dhis2gw/);
      assert.match(migrated.stdout, /^database is up to date$/m);
      // Gone, or a zombie (`[postgres] <defunct>`) until init reaps it: no server any more.
      assert.ok(!(await psField(orphan, "args")).includes(" -D "), "the orphan is gone");
      await assert.rejects(Deno.lstat(socketDir), Deno.errors.NotFound, "removed on close");

      const again = started(startServe(["serve"], { env }));
      const r = await fetch(
        `http://127.0.0.1:${portFrom(await again.waitFor(/"msg":"listening"/, 60_000))}/ready`,
      );
      assert.equal(r.status, 200);
      await r.body?.cancel();
      assert.equal((await again.stop("SIGTERM")).code, 0);
      await assert.rejects(Deno.lstat(socketDir), Deno.errors.NotFound, "removed on SIGTERM");
      assert.equal(await postmasterPid(`${dir}/data`), undefined);
    } finally {
      await stopAll();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "embedded: a data folder too long for a socket path uses a private temporary folder",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { started, stopAll } = processes();
    const dir = await tempDir();
    const data = `${dir}/${"d".repeat(100)}`;
    const env = { ...ENV, DHIS2GW_DATA_DIR: data, DHIS2GW_LOG_LEVEL: "debug" };
    try {
      const serve = started(startServe(["serve"], { env }));
      const httpPort = portFrom(await serve.waitFor(/"msg":"listening"/, 60_000));
      // Logged before "listening", on the same stream.
      const line = serve.lines.find((l) => l.includes("too long for a Unix socket"));
      assert.ok(line, "the debug log says why the socket is not in the data folder");
      const socket = JSON.parse(line).socket as string;
      assert.ok(!socket.startsWith(data), socket);
      assert.ok(new TextEncoder().encode(socket).length <= 103, socket);
      const tmp = socket.slice(0, socket.lastIndexOf("/"));
      assert.equal(await mode(tmp), 0o700);
      assert.equal(await mode(socket), 0o700);
      const ready = await fetch(`http://127.0.0.1:${httpPort}/ready`);
      assert.equal(ready.status, 200);
      await ready.body?.cancel();
      const ports = await tcpListenPorts(serve.child.pid);
      if (ports) assert.deepEqual(ports, [httpPort]);
      assert.equal((await serve.stop("SIGTERM")).code, 0);
      await assert.rejects(Deno.lstat(tmp), Deno.errors.NotFound, "removed on SIGTERM");
      await assert.rejects(Deno.lstat(`${data}/pg-socket`), Deno.errors.NotFound);
    } finally {
      await stopAll();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
