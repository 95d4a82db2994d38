import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Principal } from "../auth/principal.ts";

/** Hono context variables shared by every router. */
export interface AppEnv {
  Variables: {
    requestId: string;
    principal?: Principal;
  };
}

export type Router = OpenAPIHono<AppEnv>;
