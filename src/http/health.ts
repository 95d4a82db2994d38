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
  summary: "Readiness: 200 only when the database answers and migrations are current",
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

export interface HealthDeps {
  /** Reports whether the database answers and migrations are current (for /ready). */
  readiness: () => Promise<{ ok: boolean; reason?: string }>;
}

export function healthRoutes(deps: HealthDeps) {
  return newRouter()
    .openapi(root, (c) => c.redirect("/admin", 302))
    .openapi(health, (c) => c.json({ status: "ok" as const }, 200))
    .openapi(ready, async (c) => {
      let state: { ok: boolean; reason?: string };
      try {
        state = await deps.readiness();
      } catch (err) {
        state = { ok: false, reason: `database does not answer: ${(err as Error).message}` };
      }
      if (!state.ok) throw new AppError("not_ready", state.reason ?? "not ready");
      return c.json({ status: "ready" as const }, 200);
    });
}
