/**
 * Everything the delivery side of a process runs, built from config: the worker for the
 * destination (its kinds built by the caller, e.g. aggregate/destination.ts), the LISTEN that
 * wakes it, the rescuer and the pruner. `serve` starts it unless --no-worker; `--worker-only`
 * starts only this.
 */
import type { Config, DestinationConfig } from "../config/config.ts";
import { parseWindow } from "../config/delivery_window.ts";
import type { Sql } from "../db/db.ts";
import type { Logger } from "../logs/logger.ts";
import type { CircuitBreakers } from "./circuit_breaker.ts";
import type { Destination } from "./kind.ts";
import { startMaintenance } from "./maintenance.ts";
import { listenForWork, type Wakeup } from "./wakeup.ts";
import { Worker } from "./worker.ts";

export interface DeliveryDeps {
  config: Readonly<Config>;
  sql: Sql;
  log: Logger;
  wakeup: Wakeup;
  breakers: CircuitBreakers;
  /** Where deliveries go and the kinds that send them; null when none is configured. */
  destination?: Destination | null;
  /** Every configured destination, a worker each (the gateway); wins over `destination`. */
  destinations?: ReadonlyArray<Destination & { config?: DestinationConfig }>;
}

export interface Delivery {
  /** The first destination's worker (`default` when configured). */
  worker?: Worker;
  workers: Worker[];
  stop(graceMs: number): Promise<{ graceful: boolean }>;
}

/** Retry jitter: ±20 % spreads the retries of one outage over a few seconds per minute. */
const JITTER = 0.2;

/**
 * The lease must outlast the slowest DHIS2 call, or a healthy but slow delivery is rescued and
 * sent twice. Raised to the DHIS2 timeout plus 10 s when configured lower: recording the
 * outcome takes milliseconds, the rest is room for a slow database or a long GC pause.
 */
export function effectiveLeaseSeconds(config: Readonly<Config>): number {
  return Math.max(config.server.lease_seconds, config.api.dhis2_timeout + 10);
}

export async function startDelivery(deps: DeliveryDeps): Promise<Delivery> {
  const { config, sql, log } = deps;
  const api = config.api;
  const stops: Array<(graceMs: number) => Promise<unknown>> = [];
  // The rescuer and pruner need no DHIS2: they run even when the worker cannot.
  const maintenance = startMaintenance({
    sql,
    log: log.child({ component: "maintenance" }),
    rescueCron: api.retry_cron_expression,
    pruneCron: api.sync_cron_expression,
    retentionDays: config.server.retention_days,
    timezone: config.server.timezone,
    wakeup: deps.wakeup,
  });
  stops.push(() => Promise.resolve(maintenance.stop()));

  const destinations: ReadonlyArray<Destination & { config?: DestinationConfig }> =
    deps.destinations ?? (deps.destination ? [deps.destination] : []);
  if (!destinations.length) {
    log.warn(
      "api.dhis2_base_url (DHIS2GW_DHIS2_BASE_URL) is not set: no deliveries run, submissions stay queued",
    );
    return {
      workers: [],
      stop: async (g) => (await runStops(stops, g), { graceful: true }),
    };
  }
  const leaseSeconds = effectiveLeaseSeconds(config);
  if (leaseSeconds !== config.server.lease_seconds) {
    log.warn("server.lease_seconds raised above the DHIS2 timeout", {
      configured: config.server.lease_seconds,
      used: leaseSeconds,
    });
  }
  const workers = destinations.map((destination) => {
    const d = destination.config;
    const name = destination.name ?? destination.address;
    const window = d?.window ? parseWindow(d.window) : null;
    return new Worker({
      sql,
      log: log.child({ component: "worker", destination: name }),
      kinds: destination.kinds,
      destination: name,
      // In this process at most server.max_concurrent; across replicas the destination's own.
      maxConcurrent: Math.min(config.server.max_concurrent, d?.max_concurrent ?? Infinity),
      limits: d && {
        name: d.name,
        maxConcurrent: d.max_concurrent,
        ratePerSecond: d.rate_limit,
      },
      window: window ? { window, timeZone: d!.timezone } : undefined,
      breakerOptions: d && {
        failureThreshold: d.breaker.failure_threshold,
        cooldownMs: d.breaker.cooldown_min * 1000,
        maxCooldownMs: d.breaker.cooldown_max * 1000,
        // An unreported probe must not block longer than the request could take.
        probeTimeoutMs: Math.max(120_000, (d.timeout + 10) * 1000),
      },
      wakeup: destinations.length > 1 ? deps.wakeup.child() : deps.wakeup,
      leaseSeconds: d ? Math.max(leaseSeconds, d.timeout + 10) : leaseSeconds,
      pollIntervalMs: config.server.request_process_interval * 1000,
      backoff: {
        baseSeconds: config.server.retry_backoff_base,
        maxSeconds: Math.max(config.server.retry_backoff_max, config.server.retry_backoff_base),
        jitter: JITTER,
      },
      breakers: deps.breakers,
      batch: { maxValues: config.batch.max_values, maxWaitMs: config.batch.max_wait_ms },
    });
  });
  const listener = await listenForWork(sql, deps.wakeup, log);
  stops.push(() => listener.close());
  for (const w of workers) w.start();
  let result = { graceful: true };
  stops.unshift(async (g) => {
    const all = await Promise.all(workers.map((w) => w.stop(g)));
    result = { graceful: all.every((r) => r.graceful) };
  });
  return {
    worker: workers[0],
    workers,
    stop: async (g) => {
      await runStops(stops, g);
      return result;
    },
  };
}

async function runStops(
  stops: Array<(graceMs: number) => Promise<unknown>>,
  graceMs: number,
): Promise<void> {
  for (const stop of stops) await stop(graceMs);
}
