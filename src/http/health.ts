import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "./errors.ts";
import { newRouter } from "./router.ts";

const health = createRoute({
  method: "get",
  path: "/health",
  tags: ["probes"],
  summary: "Liveness: 200 while the process serves",
  responses: {
    200: {
      description: "alive",
      content: { "application/json": { schema: z.object({ status: z.literal("ok") }) } },
    },
  },
});

const ready = createRoute({
  method: "get",
  path: "/ready",
  tags: ["probes"],
  summary:
    "Readiness: 200 only when the database answers (within 0.8 s) and migrations are current",
  responses: {
    200: {
      description: "ready",
      content: { "application/json": { schema: z.object({ status: z.literal("ready") }) } },
    },
    503: { description: "not ready; the error message says why" },
  },
});

const root = createRoute({
  method: "get",
  path: "/",
  tags: ["probes"],
  summary: "A person opening the gateway's address lands on the admin console (and its links)",
  responses: {
    302: {
      description: "to /admin",
      headers: z.object({ Location: z.string().openapi({ example: "/admin" }) }),
    },
  },
});

type Readiness = { ok: boolean; reason?: string };

/**
 * /ready answers within this however the database behaves: Kubernetes gives a probe 1 s by
 * default, and a probe that times out tells an operator nothing. A database that has not
 * answered by then counts as "not ready".
 */
export const READY_TIMEOUT_MS = 800;

/**
 * `probe` bounded by `timeoutMs`, and never more than one at a time: while the database hangs,
 * every /ready joins the probe in flight instead of queueing another query behind it.
 */
export function boundedReadiness(
  probe: () => Promise<Readiness>,
  timeoutMs = READY_TIMEOUT_MS,
): () => Promise<Readiness> {
  let inFlight: Promise<Readiness> | undefined;
  return async () => {
    const current = inFlight ??= Promise.resolve().then(probe)
      .catch((err): Readiness => ({
        ok: false,
        reason: `database does not answer: ${(err as Error).message}`,
      }))
      .finally(() => inFlight = undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<Readiness>((resolve) => {
      timer = setTimeout(
        () => resolve({ ok: false, reason: `database does not answer within ${timeoutMs} ms` }),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([current, late]);
    } finally {
      clearTimeout(timer);
    }
  };
}

export interface HealthDeps {
  /** Reports whether the database answers and migrations are current (for /ready). */
  readiness: () => Promise<Readiness>;
}

export function healthRoutes(deps: HealthDeps) {
  const readiness = boundedReadiness(deps.readiness);
  return newRouter()
    .openapi(root, (c) => c.redirect("/admin", 302))
    .openapi(health, (c) => c.json({ status: "ok" as const }, 200))
    .openapi(ready, async (c) => {
      const state = await readiness();
      if (!state.ok) throw new AppError("not_ready", state.reason ?? "not ready");
      return c.json({ status: "ready" as const }, 200);
    });
}
