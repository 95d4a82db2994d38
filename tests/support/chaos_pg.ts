/**
 * The chaos suite's own PostgreSQL cluster (never the shared test cluster): it is stopped with
 * `pg_ctl stop -m immediate` — a crash as far as PostgreSQL is concerned — and started again
 * with the options it ran with.
 */
import postgres from "postgres";
import { DB_SCHEMA } from "../../src/db/schema.ts";
import { type Cluster, startCluster } from "../../scripts/pg_cluster.ts";

export interface ChaosCluster extends Cluster {
  /** A fresh database on the cluster, for one run. */
  createDatabase(name: string): Promise<string>;
  /** `pg_ctl stop -m immediate`: every backend is gone at once, nothing is checkpointed. */
  crash(): Promise<void>;
  /** Starts the crashed server again (crash recovery replays the WAL). */
  start(): Promise<void>;
}

async function pgCtl(bin: string, args: string[]): Promise<void> {
  const cmd = [`${bin}/pg_ctl`, ...args];
  const full = Deno.uid() === 0 ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  const out = await new Deno.Command(full[0], {
    args: full.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`pg_ctl ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

export async function startChaosCluster(bin: string): Promise<ChaosCluster> {
  const cluster = await startCluster(bin);
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  let dataDir: string;
  let options: string;
  try {
    const [row] = await admin.unsafe("show data_directory");
    dataDir = row.data_directory as string;
    // `postgres "-D" "<dir>" "-p" "…" …`: the options pg_ctl was started with, shell-quoted.
    const opts = (await Deno.readTextFile(`${dataDir}/postmaster.opts`)).trim();
    // The throwaway cluster runs with synchronous_commit=off for speed: an immediate stop then
    // loses commits the gateway already acknowledged (seen here: a submission queued 5 ms
    // before the stop was gone after it). That is the test cluster's setting, not the gateway's
    // fault, so this cluster runs with it on (a command-line -c beats ALTER SYSTEM, hence the
    // restart). fsync=off stays: a process crash does not lose the OS page cache.
    options = opts.replace(/^\S+\s+"-D"\s+"[^"]*"\s*/, "")
      .replace('"synchronous_commit=off"', '"synchronous_commit=on"');
  } finally {
    await admin.end();
  }
  const log = `${dataDir.replace(/\/data$/, "")}/log`;
  await pgCtl(bin, ["-D", dataDir, "-m", "fast", "-w", "stop"]);
  await pgCtl(bin, ["-D", dataDir, "-o", options, "-l", log, "-w", "start"]);
  const probe = postgres(cluster.url, { max: 1, onnotice: () => {} });
  try {
    const [sync] = await probe.unsafe("show synchronous_commit");
    if (sync.synchronous_commit !== "on") throw new Error("synchronous_commit is not on");
  } finally {
    await probe.end();
  }
  return {
    ...cluster,
    async createDatabase(name: string) {
      const sql = postgres(cluster.url, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`create database "${name}"`);
      } finally {
        await sql.end();
      }
      return cluster.url.replace(/\/postgres$/, `/${name}`);
    },
    crash: () => pgCtl(bin, ["-D", dataDir, "-m", "immediate", "-w", "stop"]),
    start: () => pgCtl(bin, ["-D", dataDir, "-o", options, "-l", log, "-w", "start"]),
  };
}

/** The database a chaos run uses, in either mode, with one way to crash it and one to check. */
export interface ChaosDatabase {
  readonly mode: "postgres" | "embedded";
  /** What the gateway needs to find it. */
  readonly gatewayEnv: Record<string, string>;
  /** A connection for the harness's own checks; follows a restarted embedded server. */
  sql(): Promise<postgres.Sql>;
  /** Stops PostgreSQL as a crash would and waits until it is back; says what happened. */
  crash(downS: number): Promise<string>;
  close(): Promise<void>;
}

/** The suite's own server (never the shared test cluster), stopped and started by pg_ctl. */
export async function externalDatabase(bin: string): Promise<ChaosDatabase> {
  const pg = await startChaosCluster(bin);
  const url = await pg.createDatabase("chaos");
  const sql = postgres(url, {
    max: 1,
    onnotice: () => {},
    connect_timeout: 5,
    connection: { search_path: DB_SCHEMA },
  });
  return {
    mode: "postgres",
    gatewayEnv: { DHIS2GW_DB: url },
    sql: () => Promise.resolve(sql),
    async crash(downS) {
      const secs = (t: number) => ((performance.now() - t) / 1000).toFixed(1);
      const t0 = performance.now();
      await pg.crash();
      const stopping = secs(t0);
      await new Promise((r) => setTimeout(r, downS * 1000));
      const t1 = performance.now();
      await pg.start();
      return `PostgreSQL stopped (pg_ctl stop -m immediate, ${stopping} s) and started again ` +
        `${downS} s later (crash recovery and start: ${secs(t1)} s)`;
    },
    async close() {
      await sql.end({ timeout: 2 }).catch(() => {});
      await pg.stop();
    },
  };
}

async function pidFile(pgdata: string): Promise<{ pid: number; socket: string; ready: boolean }> {
  const lines = (await Deno.readTextFile(`${pgdata}/postmaster.pid`).catch(() => "")).split("\n");
  return {
    pid: Number(lines[0]),
    socket: `${lines[4] ?? ""}/.s.PGSQL.${lines[3] ?? ""}`,
    ready: (lines[7] ?? "").trim() === "ready",
  };
}

/**
 * The gateway's embedded PostgreSQL in `dataDir`. A crash is SIGQUIT to its postmaster (what
 * `pg_ctl stop -m immediate` sends); the gateway's supervisor must start it again by itself.
 */
export function embeddedDatabase(dataDir: string): ChaosDatabase {
  const pgdata = `${dataDir}/postgres`;
  let current: { pid: number; sql: postgres.Sql } | undefined;
  return {
    mode: "embedded",
    gatewayEnv: { DHIS2GW_DATA_DIR: dataDir },
    async sql() {
      const pf = await pidFile(pgdata);
      if (current && current.pid === pf.pid) return current.sql;
      current?.sql.end({ timeout: 1 }).catch(() => {});
      const sql = postgres("postgres://postgres@localhost/postgres", {
        path: pf.socket,
        max: 1,
        onnotice: () => {},
        connect_timeout: 5,
        connection: { search_path: DB_SCHEMA },
      });
      current = { pid: pf.pid, sql };
      return sql;
    },
    async crash() {
      const before = await pidFile(pgdata);
      const t0 = performance.now();
      Deno.kill(before.pid, "SIGQUIT");
      for (let i = 0; i < 1200; i++) {
        const now = await pidFile(pgdata);
        if (now.pid && now.pid !== before.pid && now.ready) {
          const s = ((performance.now() - t0) / 1000).toFixed(1);
          return `embedded PostgreSQL stopped (SIGQUIT, as -m immediate); the gateway had it ` +
            `running again after ${s} s`;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error("the gateway did not restart its embedded PostgreSQL within 60 s");
    },
    async close() {
      await current?.sql.end({ timeout: 2 }).catch(() => {});
      // The gateway stops its server on SIGTERM; after a failed run one may be left over.
      const left = await pidFile(pgdata);
      const cmd = left.pid > 0
        ? await Deno.readTextFile(`/proc/${left.pid}/cmdline`).catch(() => "")
        : "";
      if (cmd.includes(pgdata)) {
        try {
          Deno.kill(left.pid, "SIGQUIT");
        } catch { /* already gone */ }
      }
    },
  };
}
