/**
 * GET /api/v3/test2: the old service's credential check (old-go-service.md §3, route 1).
 * Integrations call it to see whether their Token or Basic credentials work; it answers the
 * plain text `Authorized`, as before.
 */
import { z } from "@hono/zod-openapi";
import { newRouter } from "../http/router.ts";
import { secureRoute } from "./guard.ts";
import { ROLES } from "./principal.ts";

const test2 = secureRoute({
  method: "get",
  path: "/test2",
  tags: ["auth"],
  summary: "Check credentials (the old service's route): 200 text `Authorized`",
  roles: ROLES,
  responses: {
    200: {
      description: "the credentials work",
      content: { "text/plain": { schema: z.string().openapi({ example: "Authorized" }) } },
    },
  },
});

export function compatRoutes() {
  return newRouter().openapi(test2, (c) => c.text("Authorized", 200));
}
