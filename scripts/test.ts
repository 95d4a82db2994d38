/**
 * `deno task test`: runs every test against a real PostgreSQL and prints one closing line
 * `N passed, N failed[, N skipped]` computed from Deno's JUnit report.
 *
 * Uses DHIS2GW_TEST_DATABASE_URL when set, else starts a throwaway cluster with initdb/pg_ctl.
 * Without PostgreSQL binaries the database tests are reported as skipped, unless CI=true or
 * --require-postgres, where that is a failure.
 */
import { pgRuntime } from "../src/db/embedded_runtime.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { findPgBin, startCluster } from "./pg_cluster.ts";

const args = [...Deno.args];
const requirePg = Deno.env.get("CI") === "true" || args.includes("--require-postgres");
// --pg=embedded: the throwaway cluster runs the PostgreSQL the embedded mode ships (17), not the
// machine's (15), so the SQL is tried on both.
const embeddedPg = args.includes("--pg=embedded");
const passThrough = args.filter((a) => a !== "--require-postgres" && a !== "--pg=embedded");
const root = new URL("../", import.meta.url).pathname;
const artifacts = `${root}tests/artifacts`;
await Deno.mkdir(artifacts, { recursive: true });
const junit = `${artifacts}/junit.xml`;

const env: Record<string, string> = {};
let stop = async () => {};
if (Deno.env.get("DHIS2GW_TEST_DATABASE_URL")) {
  console.log("tests use the PostgreSQL at DHIS2GW_TEST_DATABASE_URL");
} else {
  const bin = embeddedPg ? await embeddedPgBin() : await findPgBin();
  if (!bin) {
    const msg = "no PostgreSQL binaries (initdb, pg_ctl) found: the database tests will be skipped";
    if (requirePg) {
      console.error(`${msg}, which is not allowed here (CI=true or --require-postgres)`);
      console.log("0 passed, 1 failed");
      Deno.exit(1);
    }
    console.warn(msg);
    env.DHIS2GW_TEST_SKIP_REASON = msg;
  } else {
    const cluster = await startCluster(bin);
    console.log(`started a throwaway PostgreSQL from ${bin} on port ${cluster.port}`);
    env.DHIS2GW_TEST_DATABASE_URL = cluster.url;
    env.DHIS2GW_TEST_PG_BIN = bin;
    stop = cluster.stop;
  }
}

const targets = passThrough.length ? passThrough : ["src/", "tests/"];
const child = new Deno.Command(Deno.execPath(), {
  args: [
    "test",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-run",
    "--allow-sys",
    `--junit-path=${junit}`,
    ...targets,
  ],
  cwd: root,
  env,
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
const status = await child.status;
await stop();

let passed = 0, failed = 0, skipped = 0;
try {
  const xml = await Deno.readTextFile(junit);
  for (const m of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = m[2] ?? "";
    if (/<failure\b|<error\b/.test(body)) failed++;
    else if (/<skipped\b/.test(body)) skipped++;
    else passed++;
  }
} catch {
  failed++;
}
if (!status.success && failed === 0) failed = 1; // a crash or compile error before any report
if (requirePg && skipped > 0) {
  console.error(`${skipped} test(s) were skipped, which CI does not allow`);
  failed += skipped;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
Deno.exit(failed > 0 ? 1 : 0);

/** The embedded mode's server binaries, in a folder the `postgres` user can reach when root. */
async function embeddedPgBin(): Promise<string> {
  const rt = await pgRuntime(
    `${Deno.env.get("TMPDIR") ?? "/tmp"}/dhis2gw-test-pg`,
    captureLogger().log,
  );
  return `${rt.dir}/bin`;
}
