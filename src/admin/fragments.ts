/**
 * Fragments: pieces of HTML the console's script fetches with the user's token and puts into a
 * page. Rendered on the server for the caller's role, so a viewer's HTML holds no write
 * control at all; every read and write goes through /api/v3 as that user (api.ts), so the
 * API's own role checks refuse anything else.
 */
import { Hono } from "hono";
import type { AppEnv } from "../http/env.ts";
import { AppError } from "../http/errors.ts";
import { ApiFailure, type ApiFetch, apiFor } from "./api.ts";
import { ErrorAlert } from "./components.tsx";
import type { AdminDeps, FragmentContext } from "./context.ts";
import { auditFragments } from "./audit_view.tsx";
import { mappingFragments } from "./mappings_view.tsx";
import { requestFragments } from "./requests_view.tsx";
import { statusFragments } from "./status_view.tsx";
import { healthFragments } from "./health_view.tsx";
import { submissionDetail } from "./submission_detail.tsx";
import { submissionFragments } from "./submissions_view.tsx";
import { userFragments } from "./users_view.tsx";
import { accountFragments } from "./account_view.tsx";
import { userEditFragments } from "./user_edit_view.tsx";
import { mappingEditFragments } from "./mapping_edit_view.tsx";
import { downloadRoutes } from "./download.ts";
import { consoleSessions } from "./session_routes.ts";
import { MetadataNames } from "./metadata_names.ts";

export function fragmentRoutes(deps: AdminDeps): Hono<AppEnv> {
  const f = new Hono<AppEnv>();
  f.onError((err, c) => {
    if (err instanceof ApiFailure) {
      return c.html(
        ErrorAlert({ status: err.status, error: err.error }).toString(),
        err.status as 400,
      );
    }
    if (err instanceof AppError) {
      for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
      const body = ErrorAlert({
        status: err.status,
        error: { code: err.code, message: err.message, requestId: c.get("requestId") },
      });
      return c.html(body.toString(), err.status as 400);
    }
    throw err; // the app's handler logs it and answers with the envelope
  });
  // Every role signs in: what a user sees and may do is what the API lets that user do (a
  // submitter's lists hold its own submissions and tokens only), and the views render write
  // controls for admins alone.
  const sessions = consoleSessions(deps);
  if (!sessions) {
    f.use("*", () => {
      throw new AppError("unauthorized", "this server has no authentication configured");
    });
  } else f.use("*", sessions.middleware());
  const fetcher: ApiFetch = deps.api;
  const ctx: FragmentContext = {
    config: deps.config,
    api: (c) => apiFor(c, fetcher),
    role: (c) => c.get("principal")!.role,
    isAdmin: (c) => c.get("principal")!.role === "admin",
    sessions,
    names: deps.names ?? MetadataNames.fromConfig(deps.config),
  };
  // The list's fixed paths (`/list`, `/requeue`…) first, then the detail's `/:id`.
  f.route("/submissions", submissionFragments(ctx));
  f.route("/submissions", submissionDetail(ctx));
  f.route("/mappings", mappingFragments(ctx));
  f.route("/mappings", mappingEditFragments(ctx));
  f.route("/users", userFragments(ctx));
  f.route("/users", userEditFragments(ctx));
  f.route("/status", statusFragments(ctx));
  f.route("/account", accountFragments(ctx));
  f.route("/download", downloadRoutes(ctx));
  f.route("/health", healthFragments(ctx));
  f.route("/requests", requestFragments(ctx));
  f.route("/audit", auditFragments(ctx));
  return f;
}
