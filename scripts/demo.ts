/**
 * `deno task demo`: the gateway on the embedded database, a DHIS2 simulator as its destination,
 * a sample of users and mappings, and the commands to try. Everything is set up through the
 * public HTTP API, as an operator would.
 *
 * It takes the same configuration as `serve` (flags over DHIS2GW_* env vars over --config file;
 * `dhis2gw --help` lists them), with its own defaults where none is given: port 9090 on
 * 127.0.0.1, data folder ./dhis2gw-demo (as root /tmp/dhis2gw-demo, since the server's OS user
 * may not enter a checkout under /root), log level warn. DHIS2 is always the simulator and the
 * database always embedded.
 *
 *   --smoke         submit the sample once, wait until it is delivered, print the log, exit
 *
 * The data folder is wiped at start, but only one the demo made (it holds a `.dhis2gw-demo`
 * marker) and that no running process holds; a busy port is refused before anything is written.
 */
import { parseArgs } from "node:util";
import { CONFIG_OPTIONS } from "../src/cli/cli.ts";
import { CONFIG_FLAGS } from "../src/cli/config_source.ts";
import { startGateway } from "../src/cli/gateway.ts";
import { loadConfig, secretValues } from "../src/config/config.ts";
import { dataDirHolder } from "../src/db/data_dir_lock.ts";
import { assertPortFree } from "../src/http/port_check.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { createLogger } from "../src/logs/logger.ts";
import { ADMIN, callApi, CLINIC, SAMPLE_SUBMISSION as SAMPLE, setUpSample } from "./sample.ts";
import { setUpTrackerSample, TRACKER_SAMPLES } from "./sample_tracker.ts";

/** One line on stderr and a non-zero exit: what an operator sees for a refused start. */
function refuse(message: string, code = 1): never {
  console.error(`dhis2gw demo: ${message}`);
  Deno.exit(code);
}

let values: Record<string, string | boolean | undefined>;
try {
  values = parseArgs({
    args: Deno.args,
    options: { ...CONFIG_OPTIONS, smoke: { type: "boolean", default: false } },
    strict: true,
  }).values;
} catch (err) {
  refuse((err as Error).message, 2);
}

/** Where the demo's own defaults apply: keys no flag, env var or file sets. */
const DEMO_DEFAULTS: Record<string, string> = {
  "server.port": "9090",
  "server.host": "127.0.0.1",
  "server.data_dir": Deno.uid() === 0 ? "/tmp/dhis2gw-demo" : "./dhis2gw-demo",
  "server.retry_backoff_base": "2",
  "server.request_process_interval": "1",
  "server.log_level": "warn",
};
const MARKER = ".dhis2gw-demo";

const env = Deno.env.toObject();
const flags: Record<string, string> = {};
for (const [flag, key] of Object.entries(CONFIG_FLAGS)) {
  if (typeof values[flag] === "string") flags[key] = values[flag] as string;
}
// Only a file named explicitly: the service's default /etc/dhis2gw/dhis2gw.yml is production's.
const filePath = (values.config ?? values["config-file"] ?? env.DHIS2GW_CONFIG) as
  | string
  | undefined;
let fileText: string | undefined;
if (filePath) {
  fileText = await Deno.readTextFile(filePath).catch((err) =>
    refuse(`cannot read config file ${filePath}: ${(err as Error).message}`)
  );
}
const first = loadConfig({ fileText, filePath, env, flags });
for (const [key, value] of Object.entries(DEMO_DEFAULTS)) {
  if ((first.sources[key]?.source ?? "default") === "default") flags[key] ??= value;
}

const sim = await startSimulator({ port: 0 });
const { config, problems } = loadConfig({
  fileText,
  filePath,
  env,
  flags: {
    ...flags,
    "api.dhis2_base_url": sim.url,
    "api.dhis2_auth_method": "basic",
    "api.dhis2_user": "admin",
    "api.dhis2_password": "district",
    "auth.admin_password": ADMIN.password,
  },
});
if (!config) {
  await sim.stop();
  refuse(`configuration has problems: ${problems.join("; ")}`, 2);
}
if (config.database.uri) {
  await sim.stop();
  refuse("the demo runs on its own embedded database; unset DHIS2GW_DB (or --db, database.uri)");
}
const dataDir = config.server.data_dir;
const stopping = async (message: string): Promise<never> => {
  await sim.stop();
  refuse(message);
};
try {
  assertPortFree(config.server.host, config.server.port);
} catch (err) {
  await stopping((err as Error).message);
}
const holder = await dataDirHolder(dataDir);
if (holder) {
  await stopping(
    `the data folder ${dataDir} is in use by another dhis2gw process${
      holder.pid ? ` (pid ${holder.pid})` : ""
    }; stop it first or choose another folder with --data-dir`,
  );
}
const entries = await Array.fromAsync(Deno.readDir(dataDir)).catch(() => []);
// The default folder is the demo's by name (earlier demos made it without a marker).
const ours = dataDir === DEMO_DEFAULTS["server.data_dir"] || entries.some((e) => e.name === MARKER);
if (entries.length > 0 && !ours) {
  await stopping(
    `${dataDir} is not empty and was not made by the demo (no ${MARKER} file); it is left untouched: choose another folder with --data-dir`,
  );
}
await Deno.remove(dataDir, { recursive: true }).catch(() => {});
await Deno.mkdir(dataDir, { recursive: true });
await Deno.writeTextFile(`${dataDir}/${MARKER}`, "made by deno task demo; wiped at its start\n");

const log = createLogger({ level: config.server.log_level, secrets: secretValues(config) });
const gw = await startGateway(config, log).catch((err) => stopping((err as Error).message));
const host = ["0.0.0.0", "::", ""].includes(config.server.host)
  ? "127.0.0.1"
  : config.server.host.includes(":")
  ? `[${config.server.host}]`
  : config.server.host;
const base = `http://${host}:${gw.port}`;
const api = `${base}/api/v3`;

const sample = await setUpSample(api);
const trackerMappings = await setUpTrackerSample(api, sample.adminToken);
const call = (path: string, init: RequestInit & { token?: string } = {}) =>
  callApi(api, path, init);

const curl = `curl -s -X POST ${api}/aggregate \\
  -H 'Authorization: Token ${sample.apiToken}' -H 'Content-Type: application/json' \\
  -d '${JSON.stringify(SAMPLE)}'`;

const trackerCurls = TRACKER_SAMPLES.map(({ path, body }) =>
  `curl -s -X POST ${api}${path} \\
  -H 'Authorization: Token ${sample.apiToken}' -H 'Content-Type: application/json' \\
  -d '${JSON.stringify(body)}'`
).join("\n\n");

if (values.smoke) {
  const res = await fetch(`${api}/aggregate`, {
    method: "POST",
    headers: { Authorization: `Token ${sample.apiToken}`, "Content-Type": "application/json" },
    body: JSON.stringify(SAMPLE),
  });
  const accepted = await res.json();
  console.log(JSON.stringify({ step: "accepted", status: res.status, body: accepted }));
  let entry: Record<string, unknown> = {};
  for (let i = 0; i < 100; i++) {
    entry = await call(`/logs/${accepted.submission_id}`, { token: sample.adminToken });
    if (!["queued", "running", "retrying"].includes(entry.status as string)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(JSON.stringify({ step: "finished", log: entry }));
  console.log(JSON.stringify({ step: "dhis2_received", dataValues: sim.dataValues() }));
  // The tracker sample: a coded event, a person with enrollment and two events, a raw bundle.
  let trackerOk = true;
  for (const { path, body } of TRACKER_SAMPLES) {
    const r = await call(path, {
      method: "POST",
      token: sample.adminToken,
      body: JSON.stringify(body),
    });
    let t: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) {
      t = await call(`/logs/${r.submission_id}`, { token: sample.adminToken });
      if (!["queued", "running", "retrying"].includes(t.status as string)) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    trackerOk &&= t.status === "delivered";
    console.log(JSON.stringify({ step: "tracker", path, status: t.status, objects: r.objects }));
  }
  console.log(JSON.stringify({
    step: "dhis2_tracker",
    trackedEntities: sim.tracker.store.trackedEntities.size,
    enrollments: sim.tracker.store.enrollments.size,
    events: sim.tracker.store.events.size,
  }));
  await gw.stop();
  await sim.stop();
  Deno.exit(entry.status === "delivered" && trackerOk ? 0 : 1);
}

console.log(`
dhis2gw demo is running on the embedded database in ${dataDir}, delivering to a DHIS2
simulator at ${sim.url} (DHIS2 user admin / district).

  console      ${base}/admin          sign in as ${ADMIN.username} / ${ADMIN.password}
  API docs     ${base}/swagger/
  submitter    ${CLINIC.username} / ${CLINIC.password}, API token below
  mappings     ${sample.mappingsCreated} imported (ANC1, MAL_M, MAL_F, WEIGHT, NETS_OK; org unit NGELEHUN)
  tracker      ${trackerMappings} tracker mappings (programs MALARIA_CASE, CHILD; their stages,
               data elements, attributes and option codes: GET ${api}/tracker/mappings)

Submit a value set (as the clinic system, with the old service's Token header):

${curl}

Tracker data (a coded event, a person with enrollment and events, a raw DHIS2 bundle):

${trackerCurls}

Then see it delivered:

curl -s -u ${ADMIN.username}:${ADMIN.password} '${api}/logs?page_size=5'

Press Ctrl-C to stop.
`);

await new Promise<void>((resolve) => {
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, () => resolve());
});
await gw.stop();
await sim.stop();
Deno.exit(0);
