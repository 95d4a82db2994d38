/**
 * Counts every HTTP request by its route pattern (`/api/v3/logs/:id`, never `/api/v3/logs/42`:
 * a label per id would grow without bound). A request no route matched is `unmatched`.
 */
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { httpRequestDuration, httpRequests } from "./metrics.ts";

/** Methods outside this list (a scanner's `PROPFIND`) share one label value. */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * The pattern of the route that answered, or would have when a middleware (authentication, a
 * body limit) answered first: the first route at or after the last handler run that is not a
 * middleware's wildcard.
 */
export function routePattern(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = Math.max(0, c.req.routeIndex); i < routes.length; i++) {
    const r = routes[i];
    if (r.method !== "ALL" && !r.path.endsWith("*")) return r.path;
  }
  return "unmatched";
}

export function httpMetrics(): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const method = METHODS.has(c.req.method) ? c.req.method : "other";
      const route = routePattern(c);
      httpRequests.inc({ method, route, status: String(c.res.status) });
      httpRequestDuration.observe({ method, route }, (performance.now() - started) / 1000);
    }
  };
}
