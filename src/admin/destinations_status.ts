/**
 * GET /api/v3/status's `destinations`: per configured DHIS2, its settings (no secrets), whether
 * it answers, its version, delivery window, circuit breaker (this process's) and queue depth.
 * What the console's status page and a script need to tell which DHIS2 is in trouble.
 */
import { z } from "@hono/zod-openapi";
import { type Config, type DestinationConfig, destinationsOf } from "../config/config.ts";
import { parseWindow, windowState } from "../config/delivery_window.ts";
import type { Db } from "../db/db.ts";
import type { Dhis2Client } from "../dhis2/client.ts";
import type { TargetVersion } from "../dhis2/target_version.ts";
import type { CircuitBreakers } from "../queue/circuit_breaker.ts";
import { depthByDestination, type DestinationDepth } from "../queue/destination_status.ts";

export const DestinationStatusSchema = z.object({
  name: z.string().openapi({ example: "default" }),
  configured: z.boolean().openapi({
    description: "false: deliveries wait for a destination this process's config lacks",
  }),
  url: z.string().nullable().openapi({ example: "https://dhis2.example.org" }),
  instanceName: z.string().openapi({ description: "whose mappings apply" }),
  copies: z.array(z.string()),
  maxConcurrent: z.number().int(),
  rateLimit: z.number().openapi({ description: "requests per second; 0: none" }),
  window: z.string().nullable().openapi({ example: "18:00-06:00" }),
  windowOpen: z.boolean(),
  nextWindowChangeAt: z.string().nullable(),
  version: z.string().nullable().openapi({ description: "read from DHIS2, else configured" }),
  reachable: z.boolean().nullable().openapi({ description: "null: no URL configured" }),
  httpStatus: z.number().int().nullable(),
  error: z.string().nullable(),
  breaker: z.object({
    state: z.enum(["closed", "open", "half_open"]),
    consecutiveFailures: z.number().int(),
    openedAt: z.string().nullable(),
    nextProbeAt: z.string().nullable(),
    cooldownMs: z.number().int(),
  }).nullable().openapi({ description: "null: no worker for it runs in this process" }),
  queue: z.object({
    queued: z.number().int(),
    running: z.number().int(),
    retrying: z.number().int(),
    held: z.number().int(),
    oldestWaitingSeconds: z.number().int().nullable(),
  }),
}).openapi("DestinationStatus");

type Health = { reachable: boolean | null; httpStatus: number | null; error: string | null };
const TTL_MS = 15_000;

export interface DestinationStatusDeps {
  config: Readonly<Config>;
  breakers?: CircuitBreakers;
  targetVersions?: ReadonlyMap<string, TargetVersion>;
  /** A short-timeout client per destination (system/info); none without a URL. */
  clientFor: (d: DestinationConfig) => Pick<Dhis2Client, "getSystemInfo"> | undefined;
}

/** One reader per app: remembers each destination's last health check for TTL_MS. */
export function destinationStatusReader(deps: DestinationStatusDeps) {
  const checks = new Map<string, { at: number; value: Promise<Health> }>();
  const check = async (d: DestinationConfig): Promise<Health> => {
    let client;
    try {
      client = deps.clientFor(d);
    } catch (err) {
      return { reachable: false, httpStatus: null, error: (err as Error).message };
    }
    if (!client) return { reachable: null, httpStatus: null, error: null };
    const r = await client.getSystemInfo();
    if (!r.ok) {
      return {
        reachable: r.httpStatus !== undefined,
        httpStatus: r.httpStatus ?? null,
        error: r.error,
      };
    }
    deps.targetVersions?.get(d.name)?.note(r.value.version);
    return { reachable: true, httpStatus: r.httpStatus, error: null };
  };
  return async (sql: Db, at: Date): Promise<z.infer<typeof DestinationStatusSchema>[]> => {
    const dests = Object.values(destinationsOf(deps.config));
    const healths = dests.map((d) => {
      const last = checks.get(d.name);
      if (last && at.getTime() - last.at <= TTL_MS) return last.value;
      const value = check(d);
      checks.set(d.name, { at: at.getTime(), value });
      return value;
    });
    const [depth, ...health] = await Promise.all([depthByDestination(sql), ...healths]);
    const snaps = deps.breakers?.snapshots(at) ?? {};
    // Deliveries waiting for a destination no longer (or not here) configured: shown, so they
    // are not forgotten.
    const orphans = [...depth.keys()].filter((n) => !dests.some((d) => d.name === n)).sort();
    return [
      ...dests.map((d, i) => {
        const q = depth.get(d.name);
        const w = d.window ? parseWindow(d.window) : null;
        const ws = windowState(w, at, d.timezone);
        const b = snaps[d.name];
        return {
          name: d.name,
          configured: true,
          url: d.base_url || null,
          instanceName: d.instance_name,
          copies: d.copies,
          maxConcurrent: d.max_concurrent,
          rateLimit: d.rate_limit,
          window: d.window || null,
          windowOpen: ws.open,
          nextWindowChangeAt: ws.nextChangeAt?.toISOString() ?? null,
          version: deps.targetVersions?.get(d.name)?.get() ?? (d.version || null),
          ...health[i],
          breaker: b
            ? {
              state: b.state,
              consecutiveFailures: b.consecutiveFailures,
              openedAt: b.openedAt?.toISOString() ?? null,
              nextProbeAt: b.nextProbeAt?.toISOString() ?? null,
              cooldownMs: b.cooldownMs,
            }
            : null,
          queue: queueOf(q, at),
        };
      }),
      ...orphans.map((name) => ({
        name,
        configured: false,
        url: null,
        instanceName: name,
        copies: [],
        maxConcurrent: 0,
        rateLimit: 0,
        window: null,
        windowOpen: false,
        nextWindowChangeAt: null,
        version: null,
        reachable: null,
        httpStatus: null,
        error: "not configured in this process: its deliveries wait",
        breaker: null,
        queue: queueOf(depth.get(name), at),
      })),
    ];
  };
}

function queueOf(q: DestinationDepth | undefined, at: Date) {
  return {
    queued: q?.queued ?? 0,
    running: q?.running ?? 0,
    retrying: q?.retrying ?? 0,
    held: q?.held ?? 0,
    oldestWaitingSeconds: q?.oldestCreatedAt
      ? Math.max(0, Math.round((at.getTime() - q.oldestCreatedAt.getTime()) / 1000))
      : null,
  };
}
