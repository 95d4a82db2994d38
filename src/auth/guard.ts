import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { AppError, errorResponse } from "../http/errors.ts";
import type { AppEnv } from "../http/env.ts";
import { type Role, ROLES } from "./principal.ts";

/** The security schemes every protected route accepts (declared in the OpenAPI document). */
export const API_SECURITY = [{ Bearer: [] }, { Token: [] }, { Basic: [] }];

export const WWW_AUTHENTICATE = 'Bearer realm="dhis2gw", Token, Basic realm="dhis2gw"';

/** The middlewares made by requireRole, so secureRoute can recognise its own. */
const ROLE_CHECKS = new WeakSet<MiddlewareHandler<AppEnv>>();

/**
 * Refuses callers whose role is not listed. Authentication itself ran earlier. With `self`,
 * the caller named by that path parameter (their own uid) is also let through, whatever the
 * role: a user may manage their own account and API tokens.
 */
export function requireRole(roles: readonly Role[], self?: string): MiddlewareHandler<AppEnv> {
  const check: MiddlewareHandler<AppEnv> = async (c, next) => {
    const principal = c.get("principal");
    if (!principal) {
      throw new AppError("unauthorized", "authentication required", {
        headers: { "WWW-Authenticate": WWW_AUTHENTICATE },
      });
    }
    const isSelf = self !== undefined && c.req.param(self) === principal.uid;
    if (!roles.includes(principal.role) && !isSelf) {
      throw new AppError(
        "forbidden",
        `this action needs the role ${roles.join(" or ")}${
          self ? " or must be about your own account" : ""
        }; you are ${principal.role}`,
      );
    }
    await next();
  };
  ROLE_CHECKS.add(check);
  return check;
}

/**
 * createRoute for a protected route: the allowed roles are declared here, next to the OpenAPI
 * definition, and become both the route's middleware and its `x-roles` extension, so the
 * route table, the document and the permission check cannot drift apart.
 *
 * `self: "uid"` also admits the caller whose own uid is that path parameter (published as
 * `x-self`), for routes like `/users/{uid}/tokens` that a user may call about themselves.
 *
 * The 401 (and the 403, when some role is refused) that the role check answers are added to
 * the route's responses with the error envelope, unless the route declares its own (docs.ts
 * gives the envelope to any error response declared without content).
 */
export function secureRoute<const R extends RouteConfig>(
  config: R & { roles: readonly Role[]; self?: string },
) {
  const { roles: declared, self: selfParam, ...rest } = config;
  // Re-wrapping a secured route (`secureRoute({ ...other, method: "post" })`) keeps its roles:
  // the returned config carries them as x-roles/x-self, not as `roles`.
  const prior = rest as { "x-roles"?: Role[]; "x-self"?: string; middleware?: unknown };
  const roles = declared ?? prior["x-roles"];
  const self = selfParam ?? prior["x-self"];
  if (!Array.isArray(roles)) throw new TypeError(`secureRoute ${rest.path}: roles are required`);
  // The role check of a re-wrapped route is replaced, never stacked: x-roles must stay exact.
  const existing =
    (rest.middleware ? (Array.isArray(rest.middleware) ? rest.middleware : [rest.middleware]) : [])
      .filter((m) => !ROLE_CHECKS.has(m));
  const responses: RouteConfig["responses"] = {
    ...rest.responses,
    401: rest.responses[401] ?? errorResponse("no credentials, or bad or expired ones"),
  };
  if (!ROLES.every((r) => roles.includes(r)) && !responses[403]) {
    responses[403] = errorResponse(
      `this action needs the role ${roles.join(" or ")}${
        self ? " or must be about your own account" : ""
      }`,
    );
  }
  return createRoute({
    ...rest,
    responses,
    security: API_SECURITY,
    "x-roles": [...roles],
    ...(self ? { "x-self": self } : {}),
    middleware: [requireRole(roles, self), ...existing] as R["middleware"],
  } as unknown as R);
}
