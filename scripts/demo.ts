/**
 * `deno task demo`: the gateway on the embedded database, a DHIS2 simulator as its destination,
 * a sample of users and mappings, and the commands to try. Everything is set up through the
 * public HTTP API, as an operator would.
 *
 *   --port N        gateway port (default 9090; 0 picks one)
 *   --data-dir DIR  where the embedded database lives (default ./dhis2gw-demo, wiped at start;
 *                   as root /tmp/dhis2gw-demo, since the server's OS user may not enter a
 *                   checkout under /root)
 *   --smoke         submit the sample once, wait until it is delivered, print the log, exit
 */
import { parseArgs } from "node:util";
import { startGateway } from "../src/cli/gateway.ts";
import { loadConfig, secretValues } from "../src/config/config.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { createLogger } from "../src/logs/logger.ts";
import { ADMIN, callApi, CLINIC, SAMPLE_SUBMISSION as SAMPLE, setUpSample } from "./sample.ts";
import { setUpTrackerSample, TRACKER_SAMPLES } from "./sample_tracker.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string", default: "9090" },
    "data-dir": { type: "string" },
    smoke: { type: "boolean", default: false },
  },
});
const dataDir = values["data-dir"] ??
  (Deno.uid() === 0 ? "/tmp/dhis2gw-demo" : "./dhis2gw-demo");
await Deno.remove(dataDir, { recursive: true }).catch(() => {});

const sim = await startSimulator({ port: 0 });
const { config, problems } = loadConfig({
  env: {
    DHIS2GW_DATA_DIR: dataDir,
    DHIS2GW_SERVER_PORT: values.port,
    DHIS2GW_HOST: "127.0.0.1",
    DHIS2GW_DHIS2_BASE_URL: sim.url,
    DHIS2GW_DHIS2_USER: "admin",
    DHIS2GW_DHIS2_PASSWORD: "district",
    DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
    DHIS2GW_RETRY_BACKOFF_BASE: "2",
    DHIS2GW_REQUEST_PROCESS_INTERVAL: "1",
    DHIS2GW_LOG_LEVEL: "warn",
  },
});
if (!config) throw new Error(problems.join("\n"));
const log = createLogger({ level: config.server.log_level, secrets: secretValues(config) });
const gw = await startGateway(config, log);
const base = `http://127.0.0.1:${gw.port}`;
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
