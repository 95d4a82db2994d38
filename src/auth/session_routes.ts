/**
 * getToken and refreshToken: the two /api/v2 routes that take no other credential (the first
 * authenticates with the password, the second with the refresh token itself).
 */
import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { newRouter } from "../http/app.ts";
import type { AppEnv } from "../http/env.ts";
import { AppError } from "../http/errors.ts";
import { zodProblems } from "../http/validation.ts";
import { clientAddress } from "./middleware.ts";
import { LoginBody, RefreshBody, SessionSchema } from "./schemas.ts";
import { parseBasic, type Session, unauthorized } from "./service.ts";
import type { AuthService } from "./service.ts";

const getToken = createRoute({
  method: "post",
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

/** Credentials from the Basic header if there is one, else from the JSON body. */
async function loginCredentials(c: Context<AppEnv>) {
  const header = c.req.header("authorization");
  if (header && /^basic /i.test(header)) {
    const creds = parseBasic(header.slice(6).trim());
    if (!creds) throw unauthorized("malformed Basic credentials");
    return creds;
  }
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw unauthorized(
      "send an Authorization: Basic header or a JSON body {username, password}",
    );
  }
  const parsed = LoginBody.safeParse(body);
  if (!parsed.success) {
    const problems = zodProblems(parsed.error);
    throw new AppError(
      "validation_failed",
      `invalid request: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`,
      { details: problems },
    );
  }
  return parsed.data;
}

export function sessionRoutes(auth: AuthService) {
  return newRouter()
    .openapi(getToken, async (c) => {
      const { username, password } = await loginCredentials(c);
      const session = await auth.login(username, password, clientAddress(c));
      return c.json(reply(session), 201);
    })
    .openapi(refreshToken, async (c) => {
      const { refreshToken } = c.req.valid("json");
      return c.json(reply(await auth.refresh(refreshToken)), 201);
    });
}
