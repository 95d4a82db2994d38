import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Principal } from "../auth/principal.ts";
import type { TrustedProxies } from "./trusted_proxies.ts";

/** Hono context variables shared by every router. */
export interface AppEnv {
  Variables: {
    requestId: string;
    principal?: Principal;
    /** `server.trusted_proxies`, set by createApp for auth/middleware.ts `clientAddress`. */
    trustedProxies?: TrustedProxies;
    /** The console's credential for its in-process /api/v3 calls (admin/session.ts). */
    consoleAuthorization?: string;
  };
}

export type Router = OpenAPIHono<AppEnv>;
