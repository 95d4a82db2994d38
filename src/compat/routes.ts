/**
 * /api/v2: the old Go service's API (old-go-service.md §1), for the clients that still call it.
 * Not a second implementation: each route calls its /api/v3 route in-process (forward.ts) and
 * reshapes the reply. Errors get the old string shape (forward.ts oldErrorShape, mounted by
 * http/app.ts); unknown query parameters are dropped rather than refused.
 *
 * Roles are /api/v3's: the route called decides (the old service had none, §6.5).
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AuthService } from "../auth/service.ts";
import { unauthorized } from "../auth/service.ts";
import { clientAddress } from "../auth/middleware.ts";
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import type { AppEnv } from "../http/env.ts";
import { AppError } from "../http/errors.ts";
import type { Logger } from "../logs/logger.ts";
import { type AppFetch, callV3, jsonOf } from "./forward.ts";
import { oldGetToken } from "./get_token.ts";
import { oldLogDetail, oldLogList } from "./logs.ts";
import { oldMappingImport, oldMappingList } from "./mappings.ts";

export interface V2Deps {
  config: Readonly<Config>;
  sql: Sql;
  log?: Logger;
  auth?: AuthService;
  /** The app's own fetch (app.fetch), resolved at request time. */
  fetch: AppFetch;
}

/** models.User's writable fields, by the lower-case key Go's encoding/json matched them on. */
const OLD_USER_FIELDS: Record<string, string> = {
  username: "username",
  firstname: "firstName",
  lastname: "lastName",
  email: "email",
  telephone: "telephone",
};

/**
 * An old PUT /users/:uid body for v3: Go decoded `Username`, `LastName` or `EMAIL` alike, so
 * the old fields are matched without regard to case; any other key passes unchanged.
 */
function oldUserUpdate(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new AppError("bad_request", "Invalid input");
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    out[OLD_USER_FIELDS[key.toLowerCase()] ?? key] = value;
  }
  return out;
}

/** The query names a route passes on to /api/v3; the rest of the old query is ignored. */
function only(c: Context<AppEnv>, names: readonly string[]): URLSearchParams {
  const out = new URLSearchParams();
  for (const name of names) {
    for (const v of c.req.queries(name) ?? []) out.append(name, v);
  }
  return out;
}

const USER_QUERY = [
  "uid",
  "username",
  "email",
  "is_active",
  "is_admin",
  "role",
  "page",
  "page_size",
];
const EXPORT_QUERY = [
  "uid",
  "code",
  "what",
  "name",
  "dataSet",
  "dataElement",
  "categoryOptionCombo",
  "attributeOptionCombo",
  "categoryOption",
  "categoryCombo",
  "source",
  "instance_name",
  "source_orgunit",
  "destination_orgunit",
];

export function v2Routes(deps: V2Deps): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const v3 = (c: Context<AppEnv>, path: string, query?: URLSearchParams) =>
    callV3(c, deps.fetch, { path, query });
  const getToken = (c: Context<AppEnv>) => {
    if (!deps.auth) throw unauthorized("authentication is not configured");
    return oldGetToken(c, { ...deps, auth: deps.auth });
  };

  // As the old middleware did: credentials first, on every route but getToken (which checks
  // its own). The v3 route called checks them again, from the credential cache.
  r.use("*", async (c, next) => {
    if (!/^\/api\/v2\/users\/(getToken|refreshToken)$/.test(c.req.path)) {
      if (!deps.auth) throw unauthorized("authentication required");
      c.set(
        "principal",
        await deps.auth.authenticate(c.req.header("authorization"), clientAddress(c)),
      );
    }
    await next();
  });

  r.get("/test2", (c) => v3(c, "/test2"));

  // Users. The old POST /user and GET /users always failed (§10.1-23); these are v3's.
  r.post("/users/getToken", getToken);
  // The old refreshToken meant "a new token for this one": with a Token header it rotates it.
  r.post("/users/refreshToken", getToken);
  r.post("/user", (c) => v3(c, "/user"));
  r.get("/users", (c) => v3(c, "/users", only(c, USER_QUERY)));
  r.get("/users/:uid", async (c) => {
    const res = await v3(c, `/users/${encodeURIComponent(c.req.param("uid"))}`);
    if (res.status === 404) throw new AppError("not_found", "User not found");
    if (!res.ok) return res;
    const u = await jsonOf<Record<string, unknown>>(res);
    // models.User's keys (§1.3); the password never leaves, as an empty string did before.
    return c.json({
      uid: u.uid,
      Username: u.username,
      Password: "",
      firstname: u.firstName,
      lastname: u.lastName,
      email: u.email,
      telephone: u.telephone,
      is_active: u.isActive,
      is_admin_user: u.isAdminUser,
      created: u.created,
      updated: u.updated,
    });
  });
  r.put("/users/:uid", async (c) => {
    const res = await callV3(c, deps.fetch, {
      path: `/users/${encodeURIComponent(c.req.param("uid"))}`,
      body: JSON.stringify(oldUserUpdate(await c.req.json().catch(() => undefined))),
      contentType: "application/json",
    });
    if (!res.ok) return res;
    return c.json({ message: "User updated successfully" });
  });

  // Submissions and their log.
  r.post("/aggregate", (c) => v3(c, "/aggregate"));
  r.post("/aggregate/reenqueue/batch", (c) => v3(c, "/aggregate/reenqueue/batch"));
  const reenqueue = async (c: Context<AppEnv>) => {
    const taskId = c.req.param("task_id") ?? "";
    const res = await v3(c, `/aggregate/reenqueue/${encodeURIComponent(taskId)}`);
    if (res.status === 404) {
      throw new AppError("not_found", `Job log not found for task ID: ${taskId}`);
    }
    if (!res.ok) return res;
    const reply = await jsonOf<Record<string, unknown>>(res);
    return c.json({
      ...reply,
      message: `Re-enqueued task ${reply.task_id} (type: aggregate:send) from default queue`,
    });
  };
  // GET in the code, POST in the old swagger: both.
  r.get("/aggregate/reenqueue/:task_id", reenqueue);
  r.post("/aggregate/reenqueue/:task_id", reenqueue);
  r.get("/logs", (c) => oldLogList(c, deps.fetch, deps.sql));
  r.delete("/logs/purge", (c) => v3(c, "/logs/purge", only(c, ["date", "status"])));
  r.get("/logs/:id", (c) => oldLogDetail(c, deps.fetch));
  r.delete("/logs/:id", async (c) => {
    const id = c.req.param("id");
    const res = await v3(c, `/logs/${encodeURIComponent(id)}`);
    if (res.status === 404) {
      throw /^\d{1,15}$/.test(id)
        ? new AppError("not_found", "Log not found")
        : new AppError("bad_request", "Invalid log ID");
    }
    return res;
  });

  // Mappings.
  r.get("/mappings", (c) => oldMappingList(c, deps.fetch));
  r.post("/mappings/import/csv", (c) => oldMappingImport(c, deps.fetch, deps, "csv"));
  r.post("/mappings/import/excel", (c) => oldMappingImport(c, deps.fetch, deps, "xlsx"));
  r.get("/mappings/export/excel", (c) => v3(c, "/mappings/export/excel", only(c, EXPORT_QUERY)));
  return r;
}
