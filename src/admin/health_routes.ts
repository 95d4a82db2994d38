/**
 * GET /api/v3/status/health: each DHIS2 destination's last health check (every minute, see
 * dhis2/health_monitor.ts) and circuit breaker, and whether an operator should be warned. Cheap
 * (no database, no DHIS2 call): every console page polls it for its banner.
 */
import { z } from "@hono/zod-openapi";
import { secureRoute } from "../auth/guard.ts";
import { errorResponses } from "../auth/schemas.ts";
import type { DestinationHealth } from "../dhis2/health_monitor.ts";
import { newRouter } from "../http/router.ts";
import type { CircuitBreakers } from "../queue/circuit_breaker.ts";

export const HealthSchema = z.object({
  alert: z.boolean().openapi({
    description: "true while a destination is unreachable, refuses the gateway's " +
      "credentials, answers with errors, or its circuit breaker is not closed",
  }),
  destinations: z.array(z.object({
    name: z.string().openapi({ example: "default" }),
    url: z.string().openapi({ example: "https://dhis2.example.org/api" }),
    state: z.enum(["unknown", "ok", "unreachable", "credentials_refused", "failing"]),
    httpStatus: z.number().int().nullable(),
    error: z.string().nullable(),
    version: z.string().nullable().openapi({ example: "2.41.3" }),
    durationMs: z.number().int().nullable(),
    checkedAt: z.string().nullable(),
    changedAt: z.string().nullable(),
    breaker: z.enum(["closed", "open", "half_open"]).nullable().openapi({
      description: "null when no delivery worker runs in this process",
    }),
  })),
}).openapi("DestinationsHealth");

export type Health = z.infer<typeof HealthSchema>;

const route = secureRoute({
  method: "get",
  path: "/status/health",
  roles: ["admin", "viewer"],
  tags: ["status"],
  summary: "Each DHIS2 destination's last health check and circuit breaker",
  responses: {
    200: {
      description: "the destinations' health",
      content: { "application/json": { schema: HealthSchema } },
    },
    ...errorResponses,
  },
});

export interface HealthDeps {
  /** The monitor's snapshot; absent: no destination is configured. */
  destinationHealth?: () => readonly DestinationHealth[];
  breakers?: CircuitBreakers;
  now?: () => Date;
}

/** Not `ok` (once checked) or a breaker that stopped deliveries: worth a banner. */
export function needsAlert(d: Health["destinations"][number]): boolean {
  return (d.state !== "ok" && d.state !== "unknown") ||
    (d.breaker !== null && d.breaker !== "closed");
}

export function healthReport(deps: HealthDeps): Health {
  const breakers = deps.breakers?.snapshots((deps.now ?? (() => new Date()))());
  const destinations = (deps.destinationHealth?.() ?? []).map((h) => ({
    ...h,
    breaker: breakers ? breakers[h.url]?.state ?? "closed" : null,
  }));
  return { alert: destinations.some(needsAlert), destinations };
}

export function healthRoutes(deps: HealthDeps) {
  return newRouter().openapi(route, (c) => c.json(healthReport(deps), 200));
}
