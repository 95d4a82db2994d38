/**
 * getToken and refreshToken: the two /api/v3 routes that take no other credential (the first
 * authenticates with the password, the second with the refresh token itself); and logout.
 */
import { createRoute } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { newRouter } from "../http/router.ts";
import type { AppEnv } from "../http/env.ts";
import { clientAddress } from "./middleware.ts";
import { secureRoute } from "./guard.ts";
import { type Principal, ROLES } from "./principal.ts";
import { LoginBody, LogoutReply, RefreshBody, SessionSchema } from "./schemas.ts";
import { parseBasic, type Session, unauthorized } from "./service.ts";
import type { AuthService } from "./service.ts";

const getToken = (basicLogin: MiddlewareHandler<AppEnv>) =>
  createRoute({
    method: "post",
    middleware: [basicLogin] as const,
    path: "/users/getToken",
    tags: ["auth"],
    summary: "Log in with a Basic header or {username, password}; returns an access/refresh pair",
    security: [{ Basic: [] }, {}],
    request: {
      body: {
        required: false,
        content: { "application/json": { schema: LoginBody } },
      },
    },
    responses: {
      201: { description: "logged in", content: { "application/json": { schema: SessionSchema } } },
      401: { description: "wrong username or password, or deactivated account" },
      429: { description: "too many failed logins; Retry-After says when to try again" },
    },
  });

const refreshToken = createRoute({
  method: "post",
  path: "/users/refreshToken",
  tags: ["auth"],
  summary: "Trade a refresh token for a new pair; the presented one stops working",
  security: [],
  request: {
    body: { required: true, content: { "application/json": { schema: RefreshBody } } },
  },
  responses: {
    201: {
      description: "a new pair",
      content: { "application/json": { schema: SessionSchema } },
    },
    401: { description: "unknown, expired, revoked or already used refresh token" },
  },
});

const logout = secureRoute({
  method: "post",
  path: "/users/logout",
  tags: ["auth"],
  summary: "Sign out: the refresh token and every pair refreshed from its login stop working",
  description: "The access token used for this call stays valid until it expires " +
    "(auth.access_token_ttl); forget it. `revoked` is 0 for an unknown or someone else's token.",
  roles: ROLES,
  request: {
    body: { required: true, content: { "application/json": { schema: RefreshBody } } },
  },
  responses: {
    200: {
      description: "signed out",
      content: { "application/json": { schema: LogoutReply } },
    },
  },
});

function reply(s: Session) {
  return {
    message: "Token created successfully",
    token: s.token,
    refreshToken: s.refreshToken,
    expires: s.expires.toISOString(),
    refreshExpires: s.refreshExpires.toISOString(),
    tokenType: "Bearer" as const,
  };
}

export function sessionRoutes(auth: AuthService) {
  /**
   * Old clients call getToken with a Basic header and no body, sometimes still labelled
   * application/json. Answering here, before the body validator, keeps an empty body from
   * becoming a 400.
   */
  const basicLogin: MiddlewareHandler<AppEnv> = async (c, next) => {
    const header = c.req.header("authorization");
    if (!header || !/^basic /i.test(header)) return await next();
    const creds = parseBasic(header.slice(6).trim());
    if (!creds) throw unauthorized("malformed Basic credentials");
    return c.json(reply(await auth.login(creds.username, creds.password, clientAddress(c))), 201);
  };

  return newRouter()
    .openapi(getToken(basicLogin), async (c) => {
      // The validator only runs for a JSON content type; without one zod-openapi hands the
      // handler `{}` (typed `never` for an optional body), so check the fields themselves.
      const req = c.req as unknown as { valid(t: "json"): Partial<typeof LoginBody._output> };
      const body = req.valid("json");
      if (typeof body?.username !== "string" || typeof body.password !== "string") {
        throw unauthorized(
          "send an Authorization: Basic header or a JSON body {username, password}",
        );
      }
      const session = await auth.login(body.username, body.password, clientAddress(c));
      return c.json(reply(session), 201);
    })
    .openapi(refreshToken, async (c) => {
      const { refreshToken } = c.req.valid("json");
      return c.json(reply(await auth.refresh(refreshToken)), 201);
    })
    .openapi(logout, async (c) => {
      const { refreshToken } = c.req.valid("json");
      const principal = c.get("principal") as Principal;
      const revoked = await auth.logout(principal.userId, refreshToken);
      return c.json({ message: "Signed out", revoked }, 200);
    });
}
