/**
 * The chaos suite's own PostgreSQL cluster (never the shared test cluster): it is stopped with
 * `pg_ctl stop -m immediate` — a crash as far as PostgreSQL is concerned — and started again
 * with the options it ran with.
 */
import postgres from "postgres";
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
