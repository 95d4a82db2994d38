/** The auth domain's HTTP surface under /api/v2, mounted by http/app.ts. */
import type { AppDeps } from "../http/app.ts";
import { newRouter } from "../http/app.ts";
import type { AuthService } from "./service.ts";
import { sessionRoutes } from "./session_routes.ts";

export function authRoutes(deps: AppDeps & { auth: AuthService }) {
  return newRouter().route("/", sessionRoutes(deps.auth));
}
