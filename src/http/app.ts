import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import type { Context } from "hono";
import { adminRoutes } from "../admin/routes.ts";
import { statusRoutes } from "../admin/status_routes.ts";
import { authenticate, clientAddress } from "../auth/middleware.ts";
import { authRoutes } from "../auth/routes.ts";
import type { AuthService } from "../auth/service.ts";
import { type Config, destinationsOf } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import type { Logger } from "../logs/logger.ts";
import type { RequestLogBuffer } from "../logs/request_log.ts";
import { refusalReason } from "../logs/refusal.ts";
import { requestsRoutes } from "../logs/requests_routes.ts";
import { auditActions } from "../audit/record.ts";
import { auditRoutes } from "../audit/routes.ts";
import { claimedIdentity } from "../auth/claimed.ts";
import { MappingCache } from "../mappings/cache.ts";
import { MappingCaches } from "../mappings/caches.ts";
import { INSTANCE_NAME } from "../mappings/lookup.ts";
import { mappingRoutes } from "../mappings/routes.ts";
import type { CircuitBreakers } from "../queue/circuit_breaker.ts";
import { logsRoutes } from "../submissions/logs_routes.ts";
import { exportRoutes } from "../submissions/export_routes.ts";
import type { MappingLookup } from "../mappings/lookup.ts";
import { submissionRoutes } from "../submissions/routes.ts";
import { GroupCommit } from "../queue/group_commit.ts";
import { trackerRoutes } from "../tracker/routes.ts";
import { codedRoutes } from "../tracker/coded_routes.ts";
import { corsOrigins } from "../config/cors_origins.ts";
import { AppError, envelope, fromDatabaseError } from "./errors.ts";
import type { AppEnv } from "./env.ts";
import { TrustedProxies } from "./trusted_proxies.ts";
import { guardRequestUrl } from "./validation.ts";
import { newRouter, requestIdFor } from "./router.ts";
import { healthRoutes } from "./health.ts";
import { mountDocs } from "./docs.ts";
import { TargetVersion } from "../dhis2/target_version.ts";
import type { DryRunClient } from "../aggregate/dry_run.ts";
import type { DestinationHealth } from "../dhis2/health_monitor.ts";
import { healthRoutes as destinationHealthRoutes } from "../admin/health_routes.ts";
import { httpMetrics } from "../metrics/http.ts";
import { metricsRoutes } from "../metrics/routes.ts";
import { isInProcess, oldErrorShape } from "../compat/forward.ts";
import { oldPaths } from "../compat/old_paths.ts";
import { v2Routes } from "../compat/routes.ts";

export interface AppDeps {
  config: Readonly<Config>;
  sql: Sql;
  log: Logger;
  /** Reports whether the database answers and migrations are current (for /ready). */
  readiness: () => Promise<{ ok: boolean; reason?: string }>;
  requestLog?: RequestLogBuffer;
  /**
   * Authentication for /api/v3. Always set by the gateway; absent only in tests of routes
   * outside /api/v3, where every protected route then answers 401.
   */
  auth?: AuthService;
  /** Code → DHIS2 UID look-up for submissions; default: mappingCache. */
  mappings?: MappingLookup;
  /**
   * The in-memory mappings the submission path reads; the mapping routes invalidate it after
   * their writes. The gateway passes a started one (it also sees other replicas' changes);
   * default: an unstarted one, which sees this process's changes only.
   */
  mappingCache?: MappingCache;
  /** Wakes the delivery workers after a submission or requeue commits (gateway.ts: how). */
  wakeWorker?: () => void;
  /** This process's delivery worker's circuit breakers, for GET /api/v3/status. */
  breakers?: CircuitBreakers;
  /** For `POST /api/v3/aggregate?dryRun=true&dhis2=true`; default: the configured DHIS2. */
  dhis2DryRun?: DryRunClient;
  /** The target DHIS2's version for intake checks; default: api.dhis2_version only. */
  targetVersion?: TargetVersion;
  /** Every mappings instance's cache (a destination's instance_name); default: made here. */
  mappingCaches?: MappingCaches;
  /** Each destination's DHIS2 version, by destination name (`default`: targetVersion). */
  targetVersions?: ReadonlyMap<string, TargetVersion>;
  /** Each DHIS2 destination's last health check (dhis2/health_monitor.ts); absent: none. */
  destinationHealth?: () => readonly DestinationHealth[];
}

/** Renders any thrown error as the one JSON envelope. */
export function renderError(err: unknown, c: Context<AppEnv>, log: Logger): Response {
  const requestId = c.get("requestId") ?? "";
  let appErr: AppError;
  let dbErr: AppError | undefined;
  if (err instanceof AppError) appErr = err;
  else if (err instanceof HTTPException) {
    const status = err.status;
    appErr = new AppError(
      status === 413
        ? "payload_too_large"
        : status === 401
        ? "unauthorized"
        : status === 404
        ? "not_found"
        : status === 415
        ? "unsupported_media_type"
        : status >= 500
        ? "internal_error"
        : "bad_request",
      status >= 500 ? "internal error" : err.message || "bad request",
      { status },
    );
  } else if (err instanceof SyntaxError) {
    appErr = new AppError("bad_request", `malformed JSON body: ${err.message}`);
  } else if ((dbErr = fromDatabaseError(err))) {
    log.warn("database unavailable", { requestId, error: err as Error, path: c.req.path });
    appErr = dbErr;
  } else {
    log.error("unhandled error", { requestId, error: err as Error, path: c.req.path });
    appErr = new AppError(
      "internal_error",
      "internal error; see the server log for this requestId",
    );
  }
  for (const [k, v] of Object.entries(appErr.headers)) c.header(k, v);
  return c.json(envelope(appErr, requestId), appErr.status as 400);
}

/** The last value computed, kept until its input changes (a reload). */
function memo<T>(make: (raw: string) => T): (raw: string) => T {
  let last: { raw: string; value: T } | undefined;
  return (raw) => {
    if (last?.raw !== raw) last = { raw, value: make(raw) };
    return last.value;
  };
}

function clientIp(c: Context<AppEnv>): string | null {
  const address = clientAddress(c);
  return address === "unknown" ? null : address;
}

export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const { config, log } = deps;
  const app = newRouter();
  // Read per request through a memo: a reload (SIGHUP) may change them (config/live.ts).
  const trustedProxiesFor = memo((raw: string) => TrustedProxies.from(raw));

  // First, so every answer is counted, errors and refusals included.
  app.use("*", httpMetrics());
  app.use("*", async (c, next) => {
    c.set("trustedProxies", trustedProxiesFor(config.server.trusted_proxies));
    const requestId = requestIdFor(c.req.header("x-request-id"));
    c.set("requestId", requestId);
    c.header("X-Request-Id", requestId);
    const started = performance.now();
    await next();
    // The id must be on every response, errors included.
    c.res.headers.set("X-Request-Id", requestId);
    const duration = Math.round(performance.now() - started);
    const principal = c.get("principal");
    if (deps.requestLog && c.req.path.startsWith("/api/") && !isInProcess(c.env)) {
      // A refused request keeps its reason and whom it claimed to be (marked unverified).
      const claimed = claimedIdentity(c.req.header("authorization"));
      const refused = c.res.status >= 400;
      deps.requestLog.add({
        at: new Date(),
        request_id: requestId,
        user_uid: principal?.uid ?? null,
        username: principal?.username ?? (refused ? claimed.username ?? null : null),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        duration_ms: duration,
        // The same address login throttling uses: a client cannot forge it (middleware.ts).
        client_ip: clientIp(c),
        token_prefix: claimed.tokenPrefix ?? null,
        identity_verified: principal
          ? true
          : claimed.username || claimed.tokenPrefix
          ? false
          : null,
        ...(refused ? await refusalReason(c.res) : {}),
      });
    }
    log.debug("request", {
      requestId,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: duration,
      user: principal?.username,
    });
  });

  // Outside everything below, so every error on the old prefix (a body too large, a 404) gets
  // the old service's string shape.
  app.use("/api/v2/*", oldErrorShape);

  // Before authentication: a preflight carries no credentials and must get 204, not 401.
  // No Access-Control-Allow-Credentials: a page on another origin can then read answers
  // only to credentials it sent itself (an Authorization header), never to ones the browser
  // holds for this origin (a cached Basic login), so even "*" lends it nothing.
  const corsFor = memo((raw: string) => {
    const origin = corsOrigins(raw);
    return origin
      ? cors({
        origin,
        allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allowHeaders: ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"],
        exposeHeaders: ["X-Request-Id", "Retry-After", "Idempotent-Replayed"],
        maxAge: 7200, // Chromium caps it at 2 h
      })
      : undefined;
  });
  app.use("/api/*", (c, next) => {
    const handler = corsFor(config.server.cors_origins);
    return handler ? handler(c, next) : next();
  });

  const importLimit = () => config.mappings.import_max_bytes + 64 * 1024; // multipart framing
  app.use("*", (c, next) => {
    // The console's import fragment forwards the same upload to the import route.
    const isImport = /^\/api\/v[23]\/mappings\/import/.test(c.req.path) ||
      c.req.path === "/admin/f/mappings/import";
    const maxSize = isImport
      ? Math.max(importLimit(), config.server.body_limit)
      : config.server.body_limit;
    return bodyLimit({
      maxSize,
      onError: () => {
        // The limit in the message: the caller can split the request without asking.
        const limit = isImport
          ? `${config.mappings.import_max_bytes} bytes (mappings.import_max_bytes)`
          : `${config.server.body_limit} bytes (server.body_limit)`;
        throw new AppError(
          "payload_too_large",
          `request body is larger than the limit of ${limit}`,
        );
      },
    })(c, next);
  });

  app.route("/", healthRoutes(deps));
  app.route("/", metricsRoutes({ ...deps, health: healthViews(deps.destinationHealth) }));
  // Before every /api/v3 router, so no route can be reached without a principal.
  if (deps.auth) app.use("/api/v3/*", authenticate(deps.auth));
  // After authentication (it needs the principal), around every route that changes something.
  app.use("/api/v3/*", auditActions({ sql: deps.sql, log }));
  // Before every router too: no route sees a NUL or a lone surrogate in its path or query
  // (newRouter gives each route that declares a body the same check of its body).
  app.use("*", guardRequestUrl);
  if (deps.auth) app.route("/api/v3", authRoutes({ ...deps, auth: deps.auth }));
  const mappingCache = deps.mappingCache ?? new MappingCache(deps.sql, { log });
  const caches = deps.mappingCaches ?? new MappingCaches(deps.sql, { log }, mappingCache);
  app.route("/api/v3", mappingRoutes({ ...deps, cache: caches }));
  const targetVersion = deps.targetVersion ?? new TargetVersion(config.api.dhis2_version);
  const versions = new Map(deps.targetVersions ?? []);
  for (const d of Object.values(destinationsOf(config))) {
    if (!versions.has(d.name)) {
      versions.set(d.name, d.name === "default" ? targetVersion : new TargetVersion(d.version));
    }
  }
  const defaultMappings = deps.mappings ?? mappingCache;
  const submissionDeps = {
    ...deps,
    dhis2Version: () => targetVersion.get(),
    versionOf: (name: string) => versions.get(name)?.get() ?? null,
    mappingsFor: (instance: string) =>
      instance === INSTANCE_NAME ? defaultMappings : caches.get(instance),
    mappings: defaultMappings,
    wakeWorker: deps.wakeWorker ?? (() => {}),
    enqueue: new GroupCommit(deps.sql).enqueue,
  };
  app.route("/", submissionRoutes(submissionDeps));
  app.route("/", trackerRoutes(submissionDeps));
  app.route("/", codedRoutes(submissionDeps));
  // Before logsRoutes: its /logs/{id} would take "export" for an id.
  app.route("/", exportRoutes(submissionDeps));
  app.route("/", logsRoutes(submissionDeps));
  app.route("/api/v3", statusRoutes({ ...deps, targetVersion, targetVersions: versions }));
  app.route("/api/v3", destinationHealthRoutes(deps));
  app.route("/", requestsRoutes(deps));
  app.route("/", auditRoutes(deps));
  // The console calls the API in-process as the signed-in user (src/admin/api.ts).
  app.route(
    "/admin",
    adminRoutes({ config, auth: deps.auth, sql: deps.sql, api: (req) => app.fetch(req) }),
  );
  // The old service's API for its clients: a translation layer over /api/v3 (src/compat/).
  const self = (req: Request, env: unknown) => app.fetch(req, env);
  app.route("/api/v2", v2Routes({ ...deps, fetch: self }));
  app.route("/", oldPaths(self));

  // Last, so the document sees every route registered above.
  mountDocs(app);

  app.notFound((c) => {
    const err = new AppError("not_found", `no route for ${c.req.method} ${c.req.path}`);
    return renderError(err, c, log);
  });
  app.onError((err, c) => renderError(err, c, log));
  return app;
}

/**
 * The second listener of `metrics.port`: GET /metrics and GET /health only, for a process that
 * serves no API (`serve --worker-only`) but whose delivery counters Prometheus must still read.
 */
export function createMetricsApp(
  deps: Pick<AppDeps, "config" | "sql" | "log" | "auth" | "breakers" | "destinationHealth">,
): OpenAPIHono<AppEnv> {
  const app = newRouter();
  app.use("*", async (c, next) => {
    c.set("requestId", requestIdFor(c.req.header("x-request-id")));
    c.set("trustedProxies", TrustedProxies.from(deps.config.server.trusted_proxies));
    await next();
  });
  app.get("/health", (c) => c.json({ status: "ok" as const }, 200));
  app.route("/", metricsRoutes({ ...deps, health: healthViews(deps.destinationHealth) }));
  app.notFound((c) =>
    renderError(
      new AppError("not_found", `only GET /metrics and GET /health are served on this port`),
      c,
      deps.log,
    )
  );
  app.onError((err, c) => renderError(err, c, deps.log));
  return app;
}

function healthViews(health: AppDeps["destinationHealth"]) {
  return () => (health?.() ?? []).map((h) => ({ name: h.name, url: h.url, up: h.state === "ok" }));
}
