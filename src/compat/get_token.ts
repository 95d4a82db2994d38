/**
 * POST /api/v2/users/getToken: what an old client expects (old-go-service.md §1.3, §6.3), a
 * long-lived token in the old reply `{message, token, expires}` with 201. It is an API token
 * (src/auth/legacy_token.ts): hashed, revocable, expiring after auth.token_max_lifetime_days.
 * The 15-minute JWT login is /api/v3/users/getToken.
 *
 * - Basic header, or `{username, password}` without a header: a new token; the user's earlier
 *   getToken tokens are revoked (tokens made through /api/v3 are not).
 * - `Token` header: that token is rotated.
 * - Bearer: as for creating a token on /api/v3, only within 5 minutes of a password login or
 *   with `currentPassword`, so a stolen access token cannot become a long-lived credential.
 */
import type { Context } from "hono";
import { issueGetToken } from "../auth/legacy_token.ts";
import { clientAddress } from "../auth/middleware.ts";
import type { Principal } from "../auth/principal.ts";
import { type AuthService, principalOf, unauthorized } from "../auth/service.ts";
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import type { AppEnv } from "../http/env.ts";

export interface GetTokenDeps {
  sql: Sql;
  config: Readonly<Config>;
  auth: AuthService;
}

async function jsonBody(c: Context<AppEnv>): Promise<Record<string, unknown>> {
  const text = await c.req.text().catch(() => "");
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text);
    return v && typeof v === "object" && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

export async function oldGetToken(c: Context<AppEnv>, deps: GetTokenDeps) {
  const { auth, sql, config } = deps;
  const address = clientAddress(c);
  const header = c.req.header("authorization");
  const body = await jsonBody(c);
  let principal: Principal;
  let generation: number;
  if (header) {
    principal = await auth.authenticate(header, address);
    generation = principal.generation;
    if (principal.via === "bearer") {
      const current = typeof body.currentPassword === "string" ? body.currentPassword : undefined;
      generation = await auth.confirmPassword(principal, current, address);
    }
  } else if (typeof body.username === "string" && typeof body.password === "string") {
    const user = await auth.checkPassword(body.username, body.password, address, "login");
    if (!user.is_active) throw unauthorized("this account is deactivated");
    principal = principalOf(user, "basic");
    generation = user.token_generation;
  } else {
    throw unauthorized(
      "send an Authorization: Basic or Token header, or a JSON body {username, password}",
    );
  }
  const rotate = principal.via === "token" ? principal.tokenId : undefined;
  // Rotating needs only the presented token to be live (a reset without keepApiTokens
  // revokes it); a new token needs the password it was checked with to be the current one.
  const issued = await issueGetToken(
    sql,
    principal.userId,
    config.auth.token_max_lifetime_days,
    rotate === undefined ? { generation } : { rotate },
  );
  if (!issued) throw unauthorized("API token revoked");
  for (const id of issued.revoked) auth.forgetToken(id);
  return c.json({
    message: "Token created successfully",
    token: issued.token,
    expires: issued.expires.toISOString(),
  }, 201);
}
