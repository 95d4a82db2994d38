/**
 * A throwaway PostgreSQL cluster for tests and benchmarks: initdb + pg_ctl from PATH or
 * /usr/lib/postgresql/<version>/bin, run as the `postgres` user when we are root.
 */
import postgres from "postgres";

export interface Cluster {
  url: string;
  port: number;
  binDir: string;
  /** Stops the server but keeps the cluster (outage tests); `resume` starts it again. */
  pause(mode?: "fast" | "immediate"): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

export async function findPgBin(
  tools: string[] = ["initdb", "pg_ctl"],
): Promise<string | undefined> {
  const hasAll = async (dir: string) => {
    for (const t of tools) if (!await exists(`${dir}/${t}`)) return false;
    return true;
  };
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && await hasAll(dir)) return dir;
  }
  const versions: number[] = [];
  try {
    for await (const e of Deno.readDir("/usr/lib/postgresql")) {
      if (/^\d+$/.test(e.name)) versions.push(Number(e.name));
    }
  } catch { /* not Debian-style */ }
  for (const v of versions.sort((a, b) => b - a)) {
    const dir = `/usr/lib/postgresql/${v}/bin`;
    if (await hasAll(dir)) return dir;
  }
  return undefined;
}

async function run(cmd: string[], asPostgres: boolean): Promise<void> {
  const full = asPostgres ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  const out = await new Deno.Command(full[0], {
    args: full.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(
      `${cmd.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}${
        new TextDecoder().decode(out.stdout)
      }`,
    );
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Every throwaway cluster's durability settings, tests and every bench row alike: it is thrown
 * away, and fsync off makes the suite several times faster. A commit then waits for no disk.
 */
export const CLUSTER_SETTINGS = "fsync=off, synchronous_commit=off, full_page_writes=off";

export async function startCluster(binDir: string): Promise<Cluster> {
  const asPostgres = Deno.uid() === 0;
  const dir = await Deno.makeTempDir({ prefix: "dhis2gw-pg-" });
  if (asPostgres) await run(["chown", "postgres:postgres", dir], false);
  await Deno.chmod(dir, 0o700);
  const port = await freePort();
  await run([
    `${binDir}/initdb`,
    "-D",
    `${dir}/data`,
    "-U",
    "postgres",
    "--auth=trust",
    "-E",
    "UTF8",
    "--no-locale",
  ], asPostgres);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 ${
    CLUSTER_SETTINGS.split(", ").map((s) => `-c ${s}`).join(" ")
  } -c max_connections=400`;
  const start = () =>
    run(
      [`${binDir}/pg_ctl`, "-D", `${dir}/data`, "-o", options, "-l", `${dir}/log`, "-w", "start"],
      asPostgres,
    );
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    binDir,
    pause: (mode = "fast") =>
      run([`${binDir}/pg_ctl`, "-D", `${dir}/data`, "-m", mode, "-w", "stop"], asPostgres),
    resume: start,
    stop: async () => {
      await run([`${binDir}/pg_ctl`, "-D", `${dir}/data`, "-m", "fast", "-w", "stop"], asPostgres)
        .catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * The database a benchmark runs on: DHIS2GW_DB when set (a real server), else a database named
 * `name` in a throwaway cluster started with initdb. `label` says which, for the results file.
 */
export async function benchDatabase(
  name: string,
): Promise<{ url: string; label: string; stop: () => Promise<void> }> {
  const url = Deno.env.get("DHIS2GW_DB");
  if (url) return { url, label: "DHIS2GW_DB", stop: async () => {} };
  const bin = await findPgBin();
  if (!bin) throw new Error("set DHIS2GW_DB or install PostgreSQL (initdb, pg_ctl)");
  const cluster = await startCluster(bin);
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  return {
    url: cluster.url.replace(/\/postgres$/, `/${name}`),
    label: `throwaway cluster (${CLUSTER_SETTINGS})`,
    stop: cluster.stop,
  };
}
