/**
 * User accounts under /api/v3, on the old service's paths with their bodies, fixed: create
 * works, list filters and pages, PUT is a partial update, DELETE deactivates. No reply ever
 * carries a password hash.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Sql } from "../db/db.ts";
import { ListQuery, pageOf } from "../http/list_query.ts";
import { newRouter } from "../http/router.ts";
import type { AppEnv } from "../http/env.ts";
import { AppError, notFound } from "../http/errors.ts";
import { secureRoute } from "./guard.ts";
import { clientAddress } from "./middleware.ts";
import { DEFAULT_ROLE, ROLES } from "./principal.ts";
import { hashPassword, verifyPassword } from "./password.ts";
import {
  listUsers,
  updateUser,
  userByUid,
  type UserChanges,
  type UserFilter,
  type UserRow,
} from "./queries.ts";
import {
  CreateUserBody,
  errorResponses,
  ListUsersQuery,
  UidParam,
  UpdateUserBody,
  USER_FILTER_KEYS,
  UserPage,
  UserSchema,
} from "./schemas.ts";
import type { AuthService } from "./service.ts";
import { revokeUserApiTokens, revokeUserRefreshTokens } from "./token_queries.ts";
import {
  assertNotLastAdmin,
  assertStrongPassword,
  createUser,
  resolveRole,
  toUserJson,
  uniqueToConflict,
} from "./users.ts";

// Serializes changes that could remove the last admin (same key as the bootstrap's).
const ADMIN_LOCK = 7_216_020_555_003;

const json = <T>(schema: T) => ({ "application/json": { schema } });

const Created = UserSchema.extend({
  message: z.string().openapi({ example: "User created successfully!" }),
}).openapi("UserCreated");
const Updated = UserSchema.extend({
  message: z.string().openapi({ example: "User updated successfully" }),
  revokedApiTokens: z.number().int().optional().openapi({
    description: "with a new password: how many of the user's API tokens it revoked",
    example: 2,
  }),
}).openapi("UserUpdated");

function createRouteAt(path: "/user" | "/users") {
  return secureRoute({
    method: "post",
    path,
    roles: ["admin"],
    tags: ["users"],
    summary: path === "/user" ? "Create a user (the old service's singular path)" : "Create a user",
    request: { body: { required: true, content: json(CreateUserBody) } },
    responses: {
      201: { description: "created", content: json(Created) },
      ...errorResponses,
      409: { description: "username taken" },
      422: { description: "invalid field, e.g. a weak password (the reply says why)" },
    },
  });
}

const list = secureRoute({
  method: "get",
  path: "/users",
  roles: ["admin"],
  tags: ["users"],
  summary: "List users with filters and paging",
  request: { query: ListUsersQuery },
  responses: {
    200: { description: "a page", content: json(UserPage) },
    ...errorResponses,
    422: { description: "a filter, page or page_size is invalid or unknown (each is named)" },
  },
});

const getOne = secureRoute({
  method: "get",
  path: "/users/{uid}",
  roles: ["admin"],
  self: "uid",
  tags: ["users"],
  summary: "One user (admin, or the user themselves)",
  request: { params: UidParam },
  responses: {
    200: { description: "the user", content: json(UserSchema) },
    ...errorResponses,
    404: { description: "no such user" },
  },
});

const update = secureRoute({
  method: "put",
  path: "/users/{uid}",
  roles: ["admin"],
  self: "uid",
  tags: ["users"],
  summary: "Partial update: omitted fields stay as they are",
  description: "A user may change their own names, email, telephone and password (giving " +
    "currentPassword); role, isActive, username and sourceName need an admin. A new password " +
    "ends the user's sessions and revokes their API tokens, unless an admin sends " +
    "keepApiTokens: true.",
  request: { params: UidParam, body: { required: true, content: json(UpdateUserBody) } },
  responses: {
    200: { description: "updated", content: json(Updated) },
    ...errorResponses,
    404: { description: "no such user" },
    409: { description: "username taken, or this would leave no active admin" },
    422: { description: "invalid field" },
  },
});

const remove = secureRoute({
  method: "delete",
  path: "/users/{uid}",
  roles: ["admin"],
  tags: ["users"],
  summary: "Deactivate a user (kept for the audit trail; all their credentials stop working)",
  request: { params: UidParam },
  responses: {
    200: { description: "deactivated", content: json(UserSchema) },
    ...errorResponses,
    404: { description: "no such user" },
    409: { description: "the last active admin" },
  },
});

async function target(sql: Sql, uid: string): Promise<UserRow> {
  const user = await userByUid(sql, uid);
  if (!user) throw notFound(`no user with uid ${uid}`);
  return user;
}

const ADMIN_ONLY_FIELDS = [
  "username",
  "role",
  "isAdminUser",
  "isActive",
  "sourceName",
  "keepApiTokens",
] as const;

export function userRoutes(deps: { sql: Sql; auth: AuthService }) {
  const { sql, auth } = deps;
  const create = async (c: Context<AppEnv>, body: typeof CreateUserBody._output) => {
    const user = await createUser(sql, {
      ...body,
      firstName: body.firstName ?? body.firstname,
      lastName: body.lastName ?? body.lastname,
      role: resolveRole(body.role, body.isAdminUser) ?? DEFAULT_ROLE,
    });
    return c.json({ message: "User created successfully!", ...toUserJson(user) }, 201);
  };

  return newRouter()
    .openapi(createRouteAt("/user"), (c) => create(c, c.req.valid("json")))
    .openapi(createRouteAt("/users"), (c) => create(c, c.req.valid("json")))
    .openapi(list, async (c) => {
      const q = new ListQuery(c.req.query(), USER_FILTER_KEYS);
      const filter: UserFilter = {
        uid: q.text("uid", 256),
        username: q.text("username", 256),
        email: q.text("email", 256),
        is_active: q.flag("is_active"),
        is_admin: q.flag("is_admin"),
        role: q.choice("role", ROLES),
      };
      const paging = q.paging(500, 20);
      q.done();
      const { rows, total } = await listUsers(sql, filter, {
        limit: paging.pageSize,
        offset: (paging.page - 1) * paging.pageSize,
      });
      return c.json(pageOf(rows.map(toUserJson), total, paging), 200);
    })
    .openapi(getOne, async (c) => {
      return c.json(toUserJson(await target(sql, c.req.valid("param").uid)), 200);
    })
    .openapi(update, async (c) => {
      const body = c.req.valid("json");
      const me = c.get("principal")!;
      const user = await target(sql, c.req.valid("param").uid);
      if (me.role !== "admin") {
        const denied = ADMIN_ONLY_FIELDS.filter((f) => body[f] !== undefined);
        if (denied.length) {
          throw new AppError("forbidden", `only an admin may change ${denied.join(", ")}`);
        }
      }
      const changes: UserChanges = {
        username: body.username,
        first_name: body.firstName ?? body.firstname,
        last_name: body.lastName ?? body.lastname,
        email: body.email === undefined ? undefined : body.email || null,
        telephone: body.telephone,
        is_active: body.isActive,
        source_name: body.sourceName,
        role: resolveRole(body.role, body.isAdminUser, user.role),
      };
      if (body.password !== undefined) {
        // Your own password needs the current one, so a stolen session cannot lock you out.
        if (user.id === me.userId) {
          if (!body.currentPassword) {
            throw new AppError("validation_failed", "currentPassword is required", {
              details: [{
                field: "currentPassword",
                message: "is required to change your own password",
              }],
            });
          }
          // Counted like a failed login: a stolen session must not become a password oracle.
          const address = clientAddress(c);
          const current = body.currentPassword;
          const right = await auth.throttle.guard(
            user.username,
            address,
            async () => await verifyPassword(current, user.password_hash) ? true : null,
          );
          if (!right) {
            throw new AppError("validation_failed", "currentPassword is wrong", {
              details: [{ field: "currentPassword", message: "does not match" }],
            });
          }
        }
        assertStrongPassword(body.password, body.username ?? user.username);
        changes.password_hash = await hashPassword(body.password);
      }
      const updated = await sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${ADMIN_LOCK})`;
        await assertNotLastAdmin(tx, user, changes);
        const row = await updateUser(tx, user.id, changes).catch((err) => {
          throw uniqueToConflict(err, body.username);
        });
        // A new password or a deactivation ends every refresh-token session.
        if (changes.password_hash || changes.is_active === false) {
          await revokeUserRefreshTokens(tx, user.id);
        }
        // A password reset is often the answer to a leak: API tokens go with it, unless an
        // admin says the integrations must keep running.
        const revokedApiTokens = changes.password_hash && !body.keepApiTokens
          ? await revokeUserApiTokens(tx, user.id)
          : changes.password_hash
          ? 0
          : undefined;
        return { row: row!, revokedApiTokens };
      });
      auth.forgetUser(user.id);
      // `message` as the old service answered, with the user as it now is.
      return c.json({
        message: "User updated successfully",
        ...toUserJson(updated.row),
        ...(updated.revokedApiTokens === undefined
          ? {}
          : { revokedApiTokens: updated.revokedApiTokens }),
      }, 200);
    })
    .openapi(remove, async (c) => {
      const user = await target(sql, c.req.valid("param").uid);
      const updated = await sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${ADMIN_LOCK})`;
        await assertNotLastAdmin(tx, user, { is_active: false });
        await revokeUserRefreshTokens(tx, user.id);
        return (await updateUser(tx, user.id, { is_active: false }))!;
      });
      auth.forgetUser(user.id);
      return c.json(toUserJson(updated), 200);
    });
}
