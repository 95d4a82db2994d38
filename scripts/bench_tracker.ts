/**
 * The tracker part of `deno task bench`: coded events (POST /api/v3/events, one event per
 * request, each given its UID at intake) accepted per second by `serve --no-worker`, then
 * delivered per second by `serve --worker-only` into the simulator's /api/tracker (sync, one
 * event per POST). Loaded by an in-process fetch loop, which shares the CPU with the gateway.
 */
import type postgres from "postgres";
import { startSimulator } from "../src/simulator/simulator.ts";
import { portFrom, startServe } from "../tests/support/cli.ts";
import { callApi } from "./sample.ts";
import { CODED_EVENT, setUpTrackerSample } from "./sample_tracker.ts";
import { ADMIN } from "./sample.ts";

export async function benchTracker(o: {
  root: string;
  env: Record<string, string>;
  gw: postgres.Sql;
  apiToken: string;
  seconds: number;
  connections: number;
}): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const api = startServe(["serve", "--no-worker"], { env: o.env, cwd: o.root });
  const port = portFrom(await api.waitFor(/"msg":"listening"/));
  const apiUrl = `http://127.0.0.1:${port}/api/v3`;
  const login = await callApi(apiUrl, "/users/getToken", {
    method: "POST",
    body: JSON.stringify(ADMIN),
  });
  await setUpTrackerSample(apiUrl, login.token);
  const count = async () =>
    (await o.gw`select count(*)::int as n from submissions where kind = 'tracker'`)[0].n;
  const before = await count();
  const body = JSON.stringify(CODED_EVENT);
  const started = performance.now();
  const deadline = started + o.seconds * 1000;
  let refused = 0;
  await Promise.all(Array.from({ length: o.connections }, async () => {
    while (performance.now() < deadline) {
      const res = await fetch(`${apiUrl}/events`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Token ${o.apiToken}` },
        body,
      });
      if (res.status !== 200) refused++;
      await res.body?.cancel();
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  const accepted = (await count()) - before;
  out.tracker_events_accepted = accepted;
  out.tracker_events_accepted_per_s = Math.round(accepted / elapsed);
  out.tracker_events_refused = refused;
  console.log(
    `accepted tracker events: ${out.tracker_events_accepted_per_s}/s (${accepted} in ${
      elapsed.toFixed(1)
    } s, in-process fetch)`,
  );
  await api.stop();

  const sim = await startSimulator({ port: 0 });
  const worker = startServe(["serve", "--worker-only"], {
    cwd: o.root,
    env: {
      ...o.env,
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: "admin",
      DHIS2GW_DHIS2_PASSWORD: "district",
      DHIS2GW_MAX_CONCURRENT: "16",
      DHIS2GW_LOG_LEVEL: "warn",
    },
  });
  const t0 = performance.now();
  let pending = accepted;
  while (pending > 0 && performance.now() - t0 < 600_000) {
    await new Promise((r) => setTimeout(r, 250));
    pending = (await o.gw`select count(*)::int as n from submissions
      where kind = 'tracker' and status in ('queued', 'running', 'retrying')`)[0].n;
  }
  const secs = (performance.now() - t0) / 1000;
  const byStatus = await o.gw`select status, count(*)::int as n from submissions
    where kind = 'tracker' group by status`;
  out.tracker_delivery_statuses = Object.fromEntries(byStatus.map((r) => [r.status, r.n]));
  out.tracker_events_delivered_per_s = Math.round(accepted / secs);
  out.tracker_events_in_simulator = sim.tracker.store.events.size;
  console.log(
    `delivered tracker events: ${out.tracker_events_delivered_per_s}/s (${accepted} in ${
      secs.toFixed(1)
    } s) ${JSON.stringify(out.tracker_delivery_statuses)}`,
  );
  await worker.stop();
  await sim.stop();
  return out;
}
