/**
 * Authentication for every `/api/v2` route: sets `principal` or answers 401. Which roles may
 * call a route is declared on the route itself (guard.ts `secureRoute`).
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/env.ts";
import type { AuthService } from "./service.ts";

/** The only /api/v2 routes that take no credential: they are how one gets a credential. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set([
  "POST /api/v2/users/getToken",
  "POST /api/v2/users/refreshToken",
]);

const PRIVATE_V4 = /^(10\.|127\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)/;

function isProxyAddress(ip: string): boolean {
  return PRIVATE_V4.test(ip) || ip === "::1" || /^f[cd]/i.test(ip) ||
    ip.startsWith("::ffff:127.");
}

/**
 * The client's address for login throttling. The socket peer, unless that peer is on a
 * loopback or private network (a reverse proxy): then the last X-Forwarded-For entry, which is
 * the one that proxy appended and cannot be forged by the client. In-process tests have no
 * socket, so they set the address with X-Forwarded-For.
 */
export function clientAddress(c: Context<AppEnv>): string {
  const env = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  const peer = env?.remoteAddr?.hostname;
  const forwarded = c.req.header("x-forwarded-for")?.split(",").map((s) => s.trim())
    .filter(Boolean);
  const last = forwarded?.[forwarded.length - 1];
  if (peer && !isProxyAddress(peer)) return peer;
  return last ?? peer ?? "unknown";
}

export function authenticate(auth: AuthService): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!PUBLIC_ROUTES.has(`${c.req.method} ${c.req.path}`)) {
      c.set("principal", await auth.authenticate(c.req.header("authorization"), clientAddress(c)));
    }
    await next();
  };
}
