/**
 * The checks of scripts/smoke_binary.sh (which runs this inside a network namespace with only
 * loopback). Args: WORK_DIR (empty, holds ./dhis2gw). The binary runs with an empty
 * environment except HOME and PATH; its configuration is a dhis2gw.yml in WORK_DIR. A DHIS2
 * simulator runs in this process, apart from the gateway's.
 *
 * Prints one JSON line per step and a closing summary; exits 1 on the first failed check.
 */
import { startSimulator } from "../src/simulator/simulator.ts";
import { ADMIN, callApi, SAMPLE_SUBMISSION, setUpSample } from "./sample.ts";

const work = Deno.args[0];
const bin = `${work}/dhis2gw`;
const readySeconds = Number(Deno.env.get("SMOKE_READY_SECONDS") ?? 20);
const GRACE = 5;
const env = { HOME: `${work}/home`, PATH: "/usr/bin:/bin" };

function fail(msg: string): never {
  console.log(JSON.stringify({ step: "FAILED", error: msg }));
  Deno.exit(1);
}
const step = (s: string, extra: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ step: s, ...extra }));

const sim = await startSimulator({ hostname: "127.0.0.1", port: 0 });
await Deno.mkdir(env.HOME, { recursive: true });
// A fixed port, free inside the namespace's own loopback.
const port = 19090;
await Deno.writeTextFile(
  `${work}/dhis2gw.yml`,
  `server:
  host: 127.0.0.1
  port: ${port}
  data_dir: ./data
  shutdown_grace: ${GRACE}
  request_process_interval: 1
  log_level: warn
auth:
  admin_password: ${JSON.stringify(ADMIN.password)}
api:
  dhis2_base_url: ${sim.url}
  dhis2_user: admin
  dhis2_password: district
`,
);

async function timed(args: string[]): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(bin, { args, cwd: work, clearEnv: true, env }).output();
  if (!out.success) fail(`dhis2gw ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return performance.now() - t0;
}

async function start(): Promise<{ child: Deno.ChildProcess; ms: number }> {
  const t0 = performance.now();
  const child = new Deno.Command(bin, {
    args: ["serve", "--config", `${work}/dhis2gw.yml`],
    cwd: work,
    clearEnv: true,
    env,
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const deadline = t0 + readySeconds * 1000;
  while (performance.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/ready`).then((r) => {
      r.body?.cancel();
      return r.status === 200;
    }, () => false);
    if (ok) return { child, ms: performance.now() - t0 };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  fail(`/ready did not answer 200 within ${readySeconds} s`);
}

async function stop(child: Deno.ChildProcess): Promise<number> {
  const t0 = performance.now();
  child.kill("SIGTERM");
  const status = await child.status;
  const ms = performance.now() - t0;
  if (status.code !== 0) fail(`exit code ${status.code} after SIGTERM`);
  if (ms > GRACE * 1000) fail(`stopping took ${Math.round(ms)} ms, more than ${GRACE} s`);
  return ms;
}

const size = (await Deno.stat(bin)).size;
step("file", { bytes: size, mb: +(size / 1e6).toFixed(1) });

const first = await start();
step("first start: /ready", { ms: Math.round(first.ms) });
const api = `http://127.0.0.1:${port}/api/v3`;
const sample = await setUpSample(api);
const res = await fetch(`${api}/aggregate`, {
  method: "POST",
  headers: { Authorization: `Token ${sample.apiToken}`, "Content-Type": "application/json" },
  body: JSON.stringify(SAMPLE_SUBMISSION),
});
const accepted = await res.json();
if (res.status !== 200) fail(`submission: ${res.status} ${accepted}`);
const id = accepted.submission_id as string;
let entry: Record<string, unknown> = {};
for (let i = 0; i < 300; i++) {
  entry = await callApi(api, `/logs/${id}`, { token: sample.adminToken });
  if (entry.status === "delivered") break;
  await new Promise((r) => setTimeout(r, 100));
}
if (entry.status !== "delivered") fail(`submission ${id} is ${entry.status}, not delivered`);
const received = sim.dataValues().length;
if (received !== Object.keys(SAMPLE_SUBMISSION.dataValues).length) {
  fail(`the simulator holds ${received} values`);
}
step("delivered", { id, values: received });
step("SIGTERM: exit 0", { ms: Math.round(await stop(first.child)) });

const second = await start();
step("second start: /ready", { ms: Math.round(second.ms) });
const again = await callApi(api, `/logs/${id}`, {
  token: (await callApi(api, "/users/getToken", {
    method: "POST",
    body: JSON.stringify(ADMIN),
  })).token,
});
if (again.status !== "delivered") fail(`after the restart, ${id} is ${again.status}`);
step("restart keeps the submission", { id, status: again.status });
await stop(second.child);

// What a start pays for being a self-extracting file once it is unpacked: the header's checks
// and one more exec, against running the unpacked launcher directly.
let overhead = 0;
const launcher = await findLauncher(`${env.HOME}`);
if (launcher) {
  const viaFile: number[] = [], direct: number[] = [];
  for (let i = 0; i < 3; i++) {
    viaFile.push(await timed(["version"]));
    const t0 = performance.now();
    await new Deno.Command(launcher, { args: ["version"], clearEnv: true, env }).output();
    direct.push(performance.now() - t0);
  }
  overhead = Math.min(...viaFile) - Math.min(...direct);
}
await sim.stop();
console.log(
  `smoke ok: ${(size / 1e6).toFixed(1)} MB, first start ${(first.ms / 1000).toFixed(2)} s, ` +
    `second start ${(second.ms / 1000).toFixed(2)} s` +
    (launcher ? `, unpacked-start overhead ${Math.round(overhead)} ms` : ""),
);

/** The unpacked launcher of a self-extracting file (none for a compiled binary). */
async function findLauncher(home: string): Promise<string | undefined> {
  for (const base of [`${home}/.cache/dhis2gw`, `${home}/Library/Caches/dhis2gw`]) {
    try {
      for await (const e of Deno.readDir(base)) {
        if (e.isDirectory && !e.name.startsWith(".")) return `${base}/${e.name}/launch`;
      }
    } catch { /* not this one */ }
  }
  return undefined;
}
