/**
 * The console's sign-in: one session per browser, shared by its tabs, in an HttpOnly,
 * SameSite=Strict cookie (`Secure` when the request came over HTTPS, directly or from a trusted
 * proxy). The page's script never sees the session id, so an injected script cannot carry it
 * off; every write also needs the CSRF token the script reads from GET /admin/session and a
 * same-origin `Origin`, so a page elsewhere cannot act with the browser's cookie.
 *
 * The fragments call /api/v3 in-process as the user with an access token minted per request
 * (api.ts), so the API's role checks stay the console's. /api/v3 itself never reads the cookie:
 * API clients keep their Authorization headers, and the API cannot be driven cross-site.
 */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { signAccessToken } from "../auth/jwt.ts";
import { clientAddress } from "../auth/middleware.ts";
import { userById } from "../auth/queries.ts";
import { hashToken, newRefreshToken } from "../auth/secrets.ts";
import { principalOf } from "../auth/service.ts";
import type { AuthService } from "../auth/service.ts";
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import type { AppEnv } from "../http/env.ts";
import { AppError } from "../http/errors.ts";
import { parseIp } from "../http/trusted_proxies.ts";
import {
  consoleSessionByHash,
  deleteConsoleSession,
  deleteEndedConsoleSessions,
  insertConsoleSession,
  touchConsoleSession,
} from "./session_queries.ts";

export const COOKIE = "dhis2gw_console";
/** A console left alone this long signs out (a shared clinic computer). */
export const IDLE_SECONDS = 8 * 3600;
/** The in-process access token a fragment calls the API with: one request's worth. */
const INTERNAL_TOKEN_SECONDS = 60;

/** Whether the browser reached us over HTTPS (directly, or via a trusted proxy that says so). */
export function cameOverHttps(c: Context<AppEnv>): boolean {
  if (new URL(c.req.url).protocol === "https:") return true;
  const peer = (c.env as { remoteAddr?: { hostname?: string } } | undefined)?.remoteAddr
    ?.hostname;
  // No socket (an in-process request) counts as a trusted peer, as in clientAddress.
  const ip = peer ? parseIp(peer) : null;
  const trusted = peer === undefined ||
    (ip !== null && (c.get("trustedProxies")?.has(ip) ?? false));
  return trusted && c.req.header("x-forwarded-proto")?.split(",")[0].trim() === "https";
}

/** The CSRF token of a session: derived, so nothing more is stored and it dies with it. */
export function csrfOf(sessionToken: string): string {
  return hashToken(`csrf:${sessionToken}`);
}

export class ConsoleSessions {
  constructor(
    private readonly sql: Sql,
    private readonly auth: AuthService,
    private readonly config: Readonly<Config>,
  ) {}

  /** Checks the password (throttled like getToken) and starts a session; sets the cookie. */
  async signIn(c: Context<AppEnv>, username: string, password: string) {
    const user = await this.auth.checkPassword(username, password, clientAddress(c), "login");
    if (!user.is_active) throw new AppError("unauthorized", "this account is deactivated");
    await deleteEndedConsoleSessions(this.sql, IDLE_SECONDS);
    const { token, hash } = newRefreshToken();
    const ttl = this.config.auth.refresh_token_ttl;
    await insertConsoleSession(this.sql, {
      tokenHash: hash,
      userId: user.id,
      tokenGeneration: user.token_generation,
      authTime: new Date(),
      expires: new Date(Date.now() + ttl * 1000),
    });
    setCookie(c, COOKIE, token, {
      path: "/admin",
      httpOnly: true,
      sameSite: "Strict",
      secure: cameOverHttps(c),
      maxAge: ttl,
    });
    return { user, csrf: csrfOf(token) };
  }

  async signOut(c: Context<AppEnv>): Promise<void> {
    const token = getCookie(c, COOKIE);
    if (token) await deleteConsoleSession(this.sql, hashToken(token));
    setCookie(c, COOKIE, "", {
      path: "/admin",
      httpOnly: true,
      sameSite: "Strict",
      secure: cameOverHttps(c),
      maxAge: 0,
    });
  }

  /** The signed-in user of this request's cookie, or undefined. */
  async resolve(c: Context<AppEnv>) {
    const token = getCookie(c, COOKIE);
    if (!token) return undefined;
    const row = await consoleSessionByHash(this.sql, hashToken(token));
    const now = Date.now();
    if (!row || row.expires.getTime() <= now) return undefined;
    if (row.last_seen.getTime() + IDLE_SECONDS * 1000 <= now) return undefined;
    const user = await userById(this.sql, row.user_id);
    if (!user?.is_active || user.token_generation !== row.token_generation) return undefined;
    await touchConsoleSession(this.sql, row.id);
    const authTime = Math.floor(row.auth_time.getTime() / 1000);
    return { user, token, authTime, principal: principalOf(user, "bearer", authTime) };
  }

  /**
   * For the fragments: the cookie's user as `principal` and an Authorization header for the
   * in-process API calls; writes need the CSRF header and a same-origin Origin. Without a
   * cookie, an Authorization header (Bearer or Token, never Basic: a browser replays a cached
   * Basic login cross-site) is taken as the API takes it.
   */
  middleware(): MiddlewareHandler<AppEnv> {
    return async (c, next) => {
      const s = await this.resolve(c);
      if (!s) {
        const header = c.req.header("authorization");
        if (!header || /^\s*basic\b/i.test(header)) {
          throw new AppError("unauthorized", "sign in to the console first");
        }
        c.set("principal", await this.auth.authenticate(header, clientAddress(c)));
        c.set("consoleAuthorization", header);
        return await next();
      }
      if (c.req.method !== "GET" && c.req.method !== "HEAD") checkCsrf(c, s.token);
      const { token } = await signAccessToken(
        this.auth.key,
        {
          sub: s.user.uid,
          username: s.user.username,
          role: s.user.role,
          gen: s.user.token_generation,
          authTime: s.authTime,
        },
        INTERNAL_TOKEN_SECONDS,
      );
      c.set("principal", s.principal);
      c.set("consoleAuthorization", `Bearer ${token}`);
      await next();
    };
  }
}

/**
 * Refuses a request a browser sent from another site. Hosts, not origins, are compared: behind
 * a proxy that ends TLS the request URL says http while the browser's Origin says https.
 */
export function checkOrigin(c: Context<AppEnv>): void {
  const origin = c.req.header("origin");
  if (origin === undefined) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    host = "";
  }
  if (host !== (c.req.header("host") ?? new URL(c.req.url).host)) {
    throw new AppError("forbidden", "this request came from another site");
  }
}

function checkCsrf(c: Context<AppEnv>, token: string): void {
  checkOrigin(c);
  if (c.req.header("x-csrf-token") !== csrfOf(token)) {
    throw new AppError("forbidden", "missing or wrong CSRF token; reload the page");
  }
}
