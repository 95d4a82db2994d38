/**
 * GET /metrics on the main port, in Prometheus text format. Readable by admin and viewer
 * credentials (Bearer, Token, Basic, as /api/v3) and by the scrape token `metrics.token`
 * (DHIS2GW_METRICS_TOKEN) sent as `Authorization: Bearer <token>`, which Prometheus and the
 * Kubernetes ServiceMonitor send. The token is compared as a SHA-256 digest in constant time
 * and is a config secret, so the logger scrubs it.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { API_SECURITY, WWW_AUTHENTICATE } from "../auth/guard.ts";
import { clientAddress } from "../auth/middleware.ts";
import type { Role } from "../auth/principal.ts";
import { constantTimeEqualHex, hashToken } from "../auth/secrets.ts";
import type { AuthService } from "../auth/service.ts";
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import type { AppEnv } from "../http/env.ts";
import { AppError, errorResponse } from "../http/errors.ts";
import { newRouter } from "../http/router.ts";
import type { CircuitBreakers } from "../queue/circuit_breaker.ts";
import { CONTENT_TYPE } from "./registry.ts";
import { type DestinationHealthView, scraper } from "./scrape.ts";

const READERS: Role[] = ["admin", "viewer"];

export interface MetricsDeps {
  config: Readonly<Config>;
  sql: Sql;
  auth?: AuthService;
  breakers?: CircuitBreakers;
  health?: () => readonly DestinationHealthView[];
}

function unauthorized(message: string): AppError {
  return new AppError("unauthorized", message, {
    headers: { "WWW-Authenticate": WWW_AUTHENTICATE },
  });
}

/** The scrape token, or an admin or viewer: anything else is 401 or 403. */
function authorizeScrape(deps: MetricsDeps): MiddlewareHandler<AppEnv> {
  const tokenHash = deps.config.metrics.token ? hashToken(deps.config.metrics.token) : null;
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const bearer = /^bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    if (tokenHash && bearer && constantTimeEqualHex(hashToken(bearer), tokenHash)) {
      return await next();
    }
    if (!deps.auth) throw unauthorized("authentication required");
    const principal = await deps.auth.authenticate(header || undefined, clientAddress(c));
    c.set("principal", principal);
    if (!READERS.includes(principal.role)) {
      throw new AppError(
        "forbidden",
        `reading metrics needs the role admin or viewer, or the scrape token; you are ${principal.role}`,
      );
    }
    await next();
  };
}

export function metricsRoutes(deps: MetricsDeps) {
  const scrape = scraper(deps);
  const route = createRoute({
    method: "get",
    path: "/metrics",
    tags: ["probes"],
    summary: "Prometheus metrics (text format 0.0.4)",
    description: "Readable by admin and viewer credentials, and by the scrape token " +
      "(`metrics.token`, env DHIS2GW_METRICS_TOKEN) sent as `Authorization: Bearer <token>`.",
    security: API_SECURITY as unknown as Array<Record<string, string[]>>,
    "x-roles": READERS,
    middleware: [authorizeScrape(deps)] as const,
    responses: {
      200: {
        description: "the metrics",
        content: { "text/plain": { schema: z.string() } },
      },
      401: errorResponse("no credentials, or bad ones"),
      403: errorResponse("a submitter's credentials"),
    },
  });
  return newRouter().openapi(route, async (c) => {
    const text = await scrape();
    c.header("Cache-Control", "no-store");
    return c.text(text, 200, { "Content-Type": CONTENT_TYPE });
  });
}
