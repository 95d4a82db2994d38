/** The auth domain's HTTP surface under /api/v3, mounted by http/app.ts. */
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import { newRouter } from "../http/router.ts";
import { compatRoutes } from "./compat_routes.ts";
import type { AuthService } from "./service.ts";
import { sessionRoutes } from "./session_routes.ts";
import { tokenRoutes } from "./token_routes.ts";
import { userRoutes } from "./user_routes.ts";

export function authRoutes(deps: { sql: Sql; auth: AuthService; config: Readonly<Config> }) {
  return newRouter()
    // getToken and refreshToken first: `/users/getToken` must never be read as a user uid.
    .route("/", sessionRoutes(deps.auth))
    .route("/", userRoutes(deps))
    .route("/", tokenRoutes(deps))
    .route("/", compatRoutes());
}
