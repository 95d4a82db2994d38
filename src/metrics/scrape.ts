/**
 * What GET /metrics reads at scrape time, beside the counters recorded as things happen
 * (metrics.ts): the queue's depth from the database, the circuit breakers, the destinations'
 * health and the process's memory. Built into a fresh registry per scrape, so a destination that
 * went away leaves no stale series behind.
 */
import type { Sql } from "../db/db.ts";
import type { CircuitBreakers, CircuitState } from "../queue/circuit_breaker.ts";
import { queueDepth, type QueueDepthRow } from "../queue/metrics_queries.ts";
import { VERSION } from "../version.ts";
import { registry } from "./metrics.ts";
import { Registry } from "./registry.ts";

/** The queue query's budget: a Prometheus scrape times out after 10 s by default. */
export const QUEUE_QUERY_TIMEOUT_MS = 2000;
const STATES: readonly CircuitState[] = ["closed", "open", "half_open"];
const PENDING = ["queued", "running", "retrying"] as const;
const startedAt = Date.now() / 1000;

/** A destination's last health check, as the scrape shows it (see dhis2/health_monitor.ts). */
export interface DestinationHealthView {
  name: string;
  /** The DHIS2 API URL: the circuit breakers' key, named by `name` in the series. */
  url: string;
  up: boolean;
}

export interface ScrapeDeps {
  sql: Sql;
  breakers?: CircuitBreakers;
  health?: () => readonly DestinationHealthView[];
  now?: () => Date;
}

/** `probe` bounded by `ms` and never more than one at a time (as http/health.ts's readiness). */
function bounded<T>(probe: () => Promise<T>, ms: number): () => Promise<T | Error> {
  let inFlight: Promise<T | Error> | undefined;
  return async () => {
    const current = inFlight ??= probe().catch((err) => err as Error)
      .finally(() => inFlight = undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<Error>((r) => {
      timer = setTimeout(() => r(new Error(`no answer within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([current, late]);
    } finally {
      clearTimeout(timer);
    }
  };
}

export function scraper(deps: ScrapeDeps): () => Promise<string> {
  const now = deps.now ?? (() => new Date());
  const readQueue = bounded(
    () => queueDepth(deps.sql, QUEUE_QUERY_TIMEOUT_MS),
    QUEUE_QUERY_TIMEOUT_MS + 500,
  );
  return async () => {
    const r = new Registry();
    const t0 = performance.now();
    const rows = await readQueue();
    const queryOk = !(rows instanceof Error);
    r.gauge(
      "dhis2gw_queue_query_success",
      "1 when this scrape's queue query answered in time; 0 leaves the queue series out.",
    ).set({}, queryOk ? 1 : 0);
    r.gauge("dhis2gw_queue_query_duration_seconds", "Time the queue query took at this scrape.")
      .set({}, (performance.now() - t0) / 1000);
    if (queryOk) queueSeries(r, rows);

    if (deps.breakers) {
      const state = r.gauge(
        "dhis2gw_circuit_breaker_state",
        "1 for the circuit breaker's current state per destination (closed, open, half_open).",
        ["destination", "state"],
      );
      const failures = r.gauge(
        "dhis2gw_circuit_breaker_consecutive_failures",
        "Failures in a row the breaker has counted per destination.",
        ["destination"],
      );
      const names = new Map((deps.health?.() ?? []).map((h) => [h.url, h.name]));
      for (const [key, s] of Object.entries(deps.breakers.snapshots(now()))) {
        const destination = names.get(key) ?? key;
        for (const st of STATES) state.set({ destination, state: st }, s.state === st ? 1 : 0);
        failures.set({ destination }, s.consecutiveFailures);
      }
    }
    if (deps.health) {
      const up = r.gauge(
        "dhis2gw_destination_up",
        "1 when the last health check (every minute) reached the destination and it accepted " +
          "the gateway's credentials.",
        ["destination"],
      );
      for (const h of deps.health()) up.set({ destination: h.name }, h.up ? 1 : 0);
    }
    processSeries(r);
    return registry.render() + r.render();
  };
}

function queueSeries(r: Registry, rows: QueueDepthRow[]): void {
  const depth = r.gauge(
    "dhis2gw_queue_depth",
    "Unfinished deliveries per destination and status (queued, running, retrying).",
    ["destination", "status"],
  );
  const oldest = r.gauge(
    "dhis2gw_queue_oldest_waiting_age_seconds",
    "Age of the oldest unfinished delivery per destination (since its submission was accepted).",
    ["destination"],
  );
  const ages = new Map<string, number>();
  for (const row of rows) {
    ages.set(row.destination, Math.max(ages.get(row.destination) ?? 0, row.oldestSeconds));
  }
  // Every status of a destination that has work, 0s included, so sum() and alerts see a series
  // go to 0 instead of vanish; `default` always, so an empty queue reads 0, not "no data".
  ages.set("default", ages.get("default") ?? 0);
  for (const [destination, age] of ages) {
    for (const status of PENDING) {
      const n = rows.find((x) => x.destination === destination && x.status === status)?.n ?? 0;
      depth.set({ destination, status }, n);
    }
    oldest.set({ destination }, age);
  }
}

function processSeries(r: Registry): void {
  const m = Deno.memoryUsage();
  r.gauge("process_resident_memory_bytes", "Resident memory size in bytes.").set({}, m.rss);
  r.gauge("dhis2gw_heap_used_bytes", "V8 heap in use, in bytes.").set({}, m.heapUsed);
  r.gauge("dhis2gw_heap_total_bytes", "V8 heap reserved, in bytes.").set({}, m.heapTotal);
  r.gauge("dhis2gw_external_memory_bytes", "Memory held outside the V8 heap, in bytes.")
    .set({}, m.external);
  r.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch.")
    .set({}, Math.floor(startedAt));
  r.gauge("dhis2gw_build_info", "Always 1; the running version as a label.", ["version"])
    .set({ version: VERSION }, 1);
}
