/**
 * GET /api/v3/status: what the console's Status page shows, as JSON for scripts too. Read-only;
 * the queue's figures come from queue/queries.ts.
 */
import { z } from "@hono/zod-openapi";
import { secureRoute } from "../auth/guard.ts";
import { errorResponses } from "../auth/schemas.ts";
import { type Config, type DestinationConfig, destinationsOf } from "../config/config.ts";
import { destinationStatusReader, DestinationStatusSchema } from "./destinations_status.ts";
import { liveAuth } from "../aggregate/destination.ts";
import type { Sql } from "../db/db.ts";
import { createDhis2Client, type Dhis2Client } from "../dhis2/client.ts";
import type { TargetVersion } from "../dhis2/target_version.ts";
import { newRouter } from "../http/router.ts";
import { AppError } from "../http/errors.ts";
import type { CircuitBreakers } from "../queue/circuit_breaker.ts";
import { STATUSES, WAITING_STATUSES } from "../queue/queries.ts";
import { filterSql, parseLogFilter } from "../submissions/filters.ts";
import { countByStatus, hourlyByStatus, oldestWaiting } from "../submissions/queries.ts";

const WAITING = new Set<string>(WAITING_STATUSES);
/** A status page refreshed by several admins must not turn into load on DHIS2. */
const DHIS2_CHECK_TTL_MS = 15_000;

const Counts = z.object(Object.fromEntries(STATUSES.map((s) => [s, z.number().int()])));

export const StatusSchema = z.object({
  generatedAt: z.string().openapi({ example: "2026-05-04T10:37:00.000Z" }),
  timeZone: z.string().openapi({ example: "Africa/Kampala" }),
  queue: z.object({
    byStatus: Counts.openapi({ example: { queued: 3, delivered: 1200, dead: 2 } }),
    waiting: z.number().int().openapi({ description: "queued + running + retrying" }),
    oldestWaiting: z.object({
      id: z.number().int(),
      status: z.string(),
      createdAt: z.string(),
      runAt: z.string(),
      attempts: z.number().int(),
      ageSeconds: z.number().int(),
    }).nullable(),
  }),
  hourly: z.array(z.object({
    hour: z.string().openapi({ example: "2026-05-04T09:00:00.000Z" }),
    counts: z.record(z.string(), z.number().int()).openapi({
      example: { delivered: 40, partial: 1, waiting: 2 },
    }),
  })).openapi({
    description: "last 7 days, per UTC hour of arrival; outcome is delivered, partial, " +
      "rejected, dead or waiting (queued/running/retrying). Hours with none are left out.",
  }),
  dhis2: z.object({
    url: z.string().nullable().openapi({ example: "https://dhis2.example.org/api" }),
    reachable: z.boolean(),
    version: z.string().nullable().openapi({ example: "2.40.3" }),
    revision: z.string().nullable(),
    systemName: z.string().nullable(),
    httpStatus: z.number().int().nullable(),
    error: z.string().nullable(),
    durationMs: z.number().int().nullable(),
    checkedAt: z.string(),
  }),
  destinations: z.array(DestinationStatusSchema).openapi({
    description: "every configured DHIS2: health, version, window, breaker, queue depth",
  }),
  circuitBreakers: z.object({
    known: z.boolean().openapi({
      description: "false when no delivery worker runs in this process (--no-worker)",
    }),
    destinations: z.array(z.object({
      destination: z.string(),
      state: z.enum(["closed", "open", "half_open"]),
      consecutiveFailures: z.number().int(),
      openedAt: z.string().nullable(),
      nextProbeAt: z.string().nullable(),
    })),
  }),
}).openapi("GatewayStatus");

const counts = secureRoute({
  method: "get",
  path: "/status/submissions",
  roles: ["admin", "viewer"],
  tags: ["status"],
  summary: "How many submissions match GET /api/v3/logs's filters, per status",
  request: {
    query: z.object({
      from_date: z.string().optional().openapi({ description: "YYYY-MM-DD, inclusive" }),
      to_date: z.string().optional().openapi({ description: "YYYY-MM-DD, inclusive" }),
      orgUnit: z.string().optional(),
      dataSet: z.string().optional(),
      period: z.string().optional(),
      user: z.string().optional(),
      q: z.string().optional().openapi({ description: "text in the last error" }),
      status: z.string().optional().openapi({ description: "one or several, comma-separated" }),
    }),
  },
  responses: {
    200: {
      description: "counts per status and their total",
      content: {
        "application/json": {
          schema: z.object({ byStatus: Counts, total: z.number().int() }).openapi(
            "SubmissionCounts",
          ),
        },
      },
    },
    ...errorResponses,
    422: { description: "a filter is invalid (the reply names it)" },
  },
});

const status = secureRoute({
  method: "get",
  path: "/status",
  roles: ["admin", "viewer"],
  tags: ["status"],
  summary: "Queue depth, oldest waiting submission, hourly outcomes, DHIS2 and circuit breaker",
  responses: {
    200: {
      description: "the gateway's state now",
      content: { "application/json": { schema: StatusSchema } },
    },
    ...errorResponses,
  },
});

export interface StatusDeps {
  config: Readonly<Config>;
  sql: Sql;
  /** The worker's breakers when it runs in this process. */
  breakers?: CircuitBreakers;
  /** Defaults to a client built from the config's DHIS2 settings. */
  dhis2?: Pick<Dhis2Client, "getSystemInfo" | "apiUrl">;
  /** Told the version each check reads, for intake's version-dependent checks. */
  targetVersion?: TargetVersion;
  /** Each destination's version, by name; told what each destination's check reads. */
  targetVersions?: ReadonlyMap<string, TargetVersion>;
  now?: () => Date;
}

type Dhis2Status = z.infer<typeof StatusSchema>["dhis2"];

/** A short-timeout client for system/info; undefined without a base URL. */
export function defaultClient(config: Readonly<Config>): StatusDeps["dhis2"] {
  return statusClient(destinationsOf(config).default, config);
}

function statusClient(
  d: DestinationConfig | undefined,
  config?: Readonly<Config>,
): StatusDeps["dhis2"] {
  if (!d?.base_url) return undefined;
  return createDhis2Client({
    baseUrl: d.base_url,
    // Read at each request: a reload (SIGHUP) may rotate `default`'s api.* credentials.
    auth: liveAuth(d, config),
    connectTimeoutMs: Math.min(d.connect_timeout * 1000, 5000),
    timeoutMs: Math.min(d.timeout * 1000, 10_000),
  });
}

export function statusRoutes(deps: StatusDeps) {
  const now = deps.now ?? (() => new Date());
  let client: StatusDeps["dhis2"] | null = null;
  let lastCheck: { at: number; value: Promise<Dhis2Status> } | undefined;
  const readDestinations = destinationStatusReader({
    config: deps.config,
    breakers: deps.breakers,
    targetVersions: deps.targetVersions,
    // `default` shares the top-level check's client (a test may inject it).
    clientFor: (d) =>
      d.name === "default"
        ? client ?? deps.dhis2 ?? statusClient(d, deps.config)
        : statusClient(d, deps.config),
  });

  const checkDhis2 = async (): Promise<Dhis2Status> => {
    const checkedAt = now().toISOString();
    try {
      client ??= deps.dhis2 ?? defaultClient(deps.config);
    } catch (err) {
      client = undefined;
      return blank(null, checkedAt, (err as Error).message);
    }
    if (!client) return blank(null, checkedAt, "no DHIS2 base URL is configured");
    const r = await client.getSystemInfo();
    if (!r.ok) {
      // An HTTP answer (401, 500, ...) still means the server is up; the error says what failed.
      return {
        ...blank(client.apiUrl, checkedAt, r.error),
        reachable: r.httpStatus !== undefined,
        httpStatus: r.httpStatus ?? null,
        durationMs: Math.round(r.durationMs),
      };
    }
    deps.targetVersion?.note(r.value.version);
    return {
      url: client.apiUrl,
      reachable: true,
      version: str(r.value.version),
      revision: str(r.value.revision),
      systemName: str(r.value.systemName),
      httpStatus: r.httpStatus,
      error: null,
      durationMs: Math.round(r.durationMs),
      checkedAt,
    };
  };

  return newRouter().openapi(counts, async (c) => {
    const { filter, problems } = parseLogFilter(c.req.queries());
    if (problems.length) {
      throw new AppError(
        "validation_failed",
        `invalid request: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`,
        { details: problems },
      );
    }
    const byStatus = await countByStatus(
      deps.sql,
      filterSql(deps.sql, filter, deps.config.server.timezone),
    );
    const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
    return c.json({ byStatus, total }, 200);
  }).openapi(status, async (c) => {
    const at = now();
    if (!lastCheck || at.getTime() - lastCheck.at > DHIS2_CHECK_TTL_MS) {
      lastCheck = { at: at.getTime(), value: checkDhis2() };
    }
    const since = new Date(at.getTime() - 7 * 24 * 3_600_000);
    const [byStatus, oldest, hourlyRows, dhis2, destinations] = await Promise.all([
      countByStatus(deps.sql, deps.sql`true`),
      oldestWaiting(deps.sql),
      hourlyByStatus(deps.sql, since),
      lastCheck.value,
      readDestinations(deps.sql, at),
    ]);
    const hourly = new Map<string, Record<string, number>>();
    for (const row of hourlyRows) {
      const key = row.hour.toISOString();
      const outcome = WAITING.has(row.status) ? "waiting" : row.status;
      const counts = hourly.get(key) ?? {};
      counts[outcome] = (counts[outcome] ?? 0) + row.n;
      hourly.set(key, counts);
    }
    return c.json({
      generatedAt: at.toISOString(),
      timeZone: deps.config.server.timezone,
      queue: {
        byStatus,
        waiting: WAITING_STATUSES.reduce((n, s) => n + byStatus[s], 0),
        oldestWaiting: oldest && {
          id: Number(oldest.id),
          status: oldest.status,
          createdAt: oldest.createdAt.toISOString(),
          runAt: oldest.runAt.toISOString(),
          attempts: oldest.attempts,
          ageSeconds: Math.max(0, Math.round((at.getTime() - oldest.createdAt.getTime()) / 1000)),
        },
      },
      hourly: [...hourly].map(([hour, counts]) => ({ hour, counts })),
      dhis2,
      destinations,
      circuitBreakers: {
        known: deps.breakers !== undefined,
        destinations: Object.entries(deps.breakers?.snapshots(at) ?? {}).map(([d, s]) => ({
          destination: d,
          state: s.state,
          consecutiveFailures: s.consecutiveFailures,
          openedAt: s.openedAt?.toISOString() ?? null,
          nextProbeAt: s.nextProbeAt?.toISOString() ?? null,
        })),
      },
    }, 200);
  });
}

const str = (v: unknown) => (typeof v === "string" ? v : null);

function blank(url: string | null, checkedAt: string, error: string): Dhis2Status {
  return {
    url,
    reachable: false,
    version: null,
    revision: null,
    systemName: null,
    httpStatus: null,
    error,
    durationMs: null,
    checkedAt,
  };
}
