import { bootstrapAdmin } from "../auth/bootstrap.ts";
import { AuthService } from "../auth/service.ts";
import { type Config, secretValues } from "../config/config.ts";
import { LiveConfig, type ReloadResult } from "../config/live.ts";
import { loadMigrations, migrate, migrationStatus } from "../db/migrate.ts";
import { type Database, openDatabase } from "../db/open.ts";
import { createApp, createMetricsApp } from "../http/app.ts";
import { assertPortFree } from "../http/port_check.ts";
import { type RunningServer, startServer, type TlsPem } from "../http/server.ts";
import type { Logger } from "../logs/logger.ts";
import { RequestLogBuffer } from "../logs/request_log.ts";
import { destinationClient, dhis2Destinations } from "../aggregate/destination.ts";
import { destinationsOf } from "../config/config.ts";
import { MappingCaches } from "../mappings/caches.ts";
import { withTracker } from "../tracker/destination.ts";
import { startTrackerPurge } from "../tracker/purge.ts";
import { CircuitBreakers } from "../queue/circuit_breaker.ts";
import { type Delivery, startDelivery } from "../queue/runner.ts";
import { Wakeup, WorkNotifier } from "../queue/wakeup.ts";
import { TargetVersion } from "../dhis2/target_version.ts";
import { HealthMonitor } from "../dhis2/health_monitor.ts";

export interface GatewayOptions {
  /** Serve the HTTP API (false with --worker-only). */
  api: boolean;
  /** Run the delivery worker (false with --no-worker). */
  worker: boolean;
}

export interface Gateway {
  port: number;
  db: Database;
  /** Graceful stop: stop accepting, finish in-flight work within the grace period, close the DB. */
  stop(): Promise<{ graceful: boolean }>;
  /** Reads server.tls_cert/tls_key again (SIGHUP); false when not serving HTTPS or it failed. */
  reloadTls(): Promise<boolean>;
  /** The DHIS2 destinations' health checks (none without a DHIS2 URL); checkAll() runs one now. */
  health?: HealthMonitor;
  /**
   * Applies a newly loaded configuration's live settings (config/live.ts) and logs, at warn,
   * each changed setting that needs a restart.
   */
  reload(next: Readonly<Config>): ReloadResult;
}

/** The PEM files named by server.tls_cert/tls_key, read whole; undefined when not set. */
async function readTls(server: Config["server"]): Promise<TlsPem | undefined> {
  if (!server.tls_cert) return undefined;
  const read = (key: string, path: string) =>
    Deno.readTextFile(path).catch((err) => {
      throw new Error(`server.${key}: cannot read ${path}: ${(err as Error).message}`);
    });
  return {
    cert: await read("tls_cert", server.tls_cert),
    key: await read("tls_key", server.tls_key),
  };
}

/** The composition root: everything `serve` starts, in order, and stops in reverse. */
export async function startGateway(
  initial: Readonly<Config>,
  log: Logger,
  opts: GatewayOptions = { api: true, worker: true },
): Promise<Gateway> {
  // Every part reads the live view, so a reload reaches it without a restart.
  const live = new LiveConfig(initial);
  const config = live.view;
  // Before anything is written: a busy port must not leave a first admin created (and its
  // one-time password printed) by a start that then fails.
  if (opts.api) assertPortFree(config.server.host, config.server.port);
  const db = await openDatabase(config, log);
  const stops: Array<() => Promise<unknown>> = [];
  let server: RunningServer | undefined;
  let mappingCaches: MappingCaches | undefined;
  let delivery: Delivery | undefined;
  let health: HealthMonitor | undefined;
  try {
    const migrations = await loadMigrations();
    await migrate(db.sql, log, migrations);
    const requestLog = new RequestLogBuffer(db.sql, log);
    stops.push(() => requestLog.close());
    await bootstrapAdmin(db.sql, config, log);
    const auth = await AuthService.create({ sql: db.sql, config, log });
    stops.push(() => auth.close());

    // Shared by this process's submission route (wakes its own worker after a commit without a
    // round trip through the database) and its worker.
    const wakeup = new Wakeup();
    const breakers = new CircuitBreakers();
    const dests = Object.values(destinationsOf(config));
    // Intake's period rules follow each destination's version (reference §12); the health
    // checks below and a first read at start tell each what its DHIS2 runs.
    const targetVersions = new Map(dests.map((d) => [d.name, new TargetVersion(d.version)]));
    // A short-timeout client per destination with a URL, for system/info.
    const infoClient = (d: (typeof dests)[number]) =>
      destinationClient({
        ...d,
        connect_timeout: Math.min(d.connect_timeout, 5),
        timeout: Math.min(d.timeout, 10),
      });
    // Each DHIS2 destination checked now and every minute, in the background (a DHIS2 that is
    // down must not delay the start): warns in the log, feeds the console's banner.
    try {
      const monitored = dests.filter((d) => d.base_url).map((d) => ({
        name: d.name,
        client: infoClient(d),
      }));
      if (monitored.length) {
        const monitor = health = new HealthMonitor({
          destinations: monitored,
          log: log.child({ component: "health" }),
          onVersion: (name, version) => targetVersions.get(name)?.note(version),
        });
        monitor.start();
        stops.push(() => Promise.resolve(monitor.stop()));
      }
    } catch (err) {
      log.warn("DHIS2 health checks not started", { error: (err as Error).message });
    }
    if (opts.worker) {
      // Stopped by stop() below, alongside the HTTP drain: in-flight deliveries get the
      // grace period, the rest is left to their leases.
      delivery = await startDelivery({
        config,
        sql: db.sql,
        log,
        wakeup,
        breakers,
        // Tracker goes to `default` (api.* and tracker.*): only its worker has the tracker kind.
        destinations: dhis2Destinations(config).map((d) =>
          d.name === "default" ? { ...d, ...withTracker(d, config, db.sql) } : d
        ),
      });
      for (const d of Object.values(destinationsOf(config))) {
        if (!d.base_url && Object.keys(destinationsOf(config)).length > 1) {
          log.warn(`destination ${d.name} has no base URL: its deliveries stay queued`, {
            destination: d.name,
          });
        }
      }
      const purge = startTrackerPurge({
        sql: db.sql,
        log: log.child({ component: "tracker-purge" }),
        retentionDays: config.tracker.payload_retention_days,
      });
      stops.push(() => Promise.resolve(purge.stop()));
    }

    if (opts.api) {
      // Loaded before the first submission can arrive; how it stays fresh: src/mappings/cache.ts.
      // One per mappings instance a destination uses (its instance_name).
      const caches = mappingCaches = new MappingCaches(db.sql, {
        refreshSeconds: config.mappings.cache_refresh,
        listen: true,
        log,
      });
      stops.push(() => caches.stop());
      await caches.start(["default", ...dests.map((d) => d.instance_name)]);
      const cache = caches.get("default");
      // Other processes' workers hear of new submissions through a coalesced NOTIFY.
      const notifier = new WorkNotifier(db.sql, log, undefined, opts.worker ? wakeup.id : "");
      stops.push(() => notifier.close());
      // Read in the background: an unreachable DHIS2 must not delay the start; until it
      // answers, the configured version (or none: any supported version's rules) applies.
      const targetVersion = targetVersions.get("default")!;
      for (const d of dests) {
        if (!d.base_url) continue;
        try {
          targetVersions.get(d.name)!.refresh(infoClient(d)).then((v) =>
            log.info("target DHIS2 version for intake checks", {
              destination: d.name,
              version: v ?? "unknown",
            })
          );
        } catch (err) {
          log.warn("DHIS2 version not read", {
            destination: d.name,
            error: (err as Error).message,
          });
        }
      }
      const app = createApp({
        config,
        sql: db.sql,
        log,
        requestLog,
        auth,
        mappingCache: cache,
        mappingCaches: caches,
        targetVersion,
        targetVersions,
        wakeWorker: () => {
          if (opts.worker) wakeup.wake();
          notifier.notify();
        },
        breakers: opts.worker ? breakers : undefined,
        destinationHealth: health && (() => health!.snapshot()),
        readiness: async () => {
          const s = await migrationStatus(db.sql, migrations);
          return { ok: s.current, reason: s.reason };
        },
      });
      server = await startServer(app.fetch, {
        hostname: config.server.host,
        port: config.server.port,
        log,
        tls: await readTls(config.server),
      });
    }
    if (config.metrics.port) {
      // After the API's port: a busy API port fails the start before this one is taken.
      const metricsServer = await startServer(
        createMetricsApp({
          config,
          sql: db.sql,
          log,
          auth,
          breakers: opts.worker ? breakers : undefined,
          destinationHealth: health && (() => health!.snapshot()),
        }).fetch,
        { hostname: config.server.host, port: config.metrics.port, log },
      );
      stops.push(() => metricsServer.shutdown(1000));
    }
  } catch (err) {
    health?.stop();
    await mappingCaches?.stop().catch(() => {});
    await delivery?.stop(0).catch(() => {});
    await db.close().catch(() => {});
    throw err;
  }

  let stopping: Promise<{ graceful: boolean }> | undefined;
  return {
    port: server?.port ?? 0,
    db,
    health,
    reloadTls: async () => {
      if (!server || !config.server.tls_cert) return false;
      try {
        return await server.reloadTls((await readTls(config.server))!);
      } catch (err) {
        log.error("could not reload the TLS certificate", { error: (err as Error).message });
        return false;
      }
    },
    reload: (next) => {
      // The new secrets are scrubbed from the log before anything can print them.
      for (const secret of secretValues(next)) log.addSecret(secret);
      const result = live.apply(next);
      if (result.applied.includes("server.log_level")) log.setLevel(config.server.log_level);
      for (const key of result.restartNeeded) {
        log.warn("configuration changed but needs a restart to apply", { key });
      }
      log.info("configuration reloaded", {
        applied: result.applied,
        restartNeeded: result.restartNeeded,
      });
      return result;
    },
    stop: () =>
      stopping ??= (async () => {
        // One grace period for both drains, run side by side: a stop takes at most
        // shutdown_grace, then the pools and the embedded database's own stop.
        const graceMs = config.server.shutdown_grace * 1000;
        const [http, worker] = await Promise.all([
          server?.shutdown(graceMs) ?? { graceful: true },
          delivery?.stop(graceMs).catch((err) => {
            log.error("error while stopping the worker", { error: err as Error });
            return { graceful: false };
          }) ?? { graceful: true },
        ]);
        const result = { graceful: http.graceful && worker.graceful };
        for (const stop of stops.reverse()) {
          await stop().catch((err) => log.error("error while stopping", { error: err as Error }));
        }
        await db.close();
        log.info("stopped", { graceful: result.graceful });
        return result;
      })(),
  };
}
