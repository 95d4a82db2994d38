/**
 * Authentication for every `/api/v3` route: sets `principal` or answers 401. Which roles may
 * call a route is declared on the route itself (guard.ts `secureRoute`).
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/env.ts";
import { TrustedProxies } from "../http/trusted_proxies.ts";
import type { AuthService } from "./service.ts";

/** The only /api/v3 routes that take no credential: they are how one gets a credential. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set([
  "POST /api/v3/users/getToken",
  "POST /api/v3/users/refreshToken",
]);

/** For an app built without createApp's middleware (a router tested on its own). */
const DEFAULT_PROXIES = TrustedProxies.from("127.0.0.0/8,::1");

/**
 * The client's address for login throttling and the request log: the socket peer, unless that
 * peer is one of `server.trusted_proxies`; then the first X-Forwarded-For entry from the right
 * that is not a trusted proxy (trusted_proxies.ts). In-process tests have no socket, so they
 * set the address with X-Forwarded-For.
 */
export function clientAddress(c: Context<AppEnv>): string {
  const env = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  const trusted = c.get("trustedProxies") ?? DEFAULT_PROXIES;
  return trusted.clientAddress(env?.remoteAddr?.hostname, c.req.header("x-forwarded-for"));
}

export function authenticate(auth: AuthService): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!PUBLIC_ROUTES.has(`${c.req.method} ${c.req.path}`)) {
      c.set("principal", await auth.authenticate(c.req.header("authorization"), clientAddress(c)));
    }
    await next();
  };
}
