/**
 * API tokens for machine clients, under /api/v3/users/{uid}/tokens. A user manages their own;
 * an admin anyone's. The secret is in the create reply only; lists show the prefix.
 */
import { z } from "@hono/zod-openapi";
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import { newRouter } from "../http/router.ts";
import { AppError, notFound, validationFailed } from "../http/errors.ts";
import { secureRoute } from "./guard.ts";
import { clientAddress } from "./middleware.ts";
import { userByUid, type UserRow } from "./queries.ts";
import {
  ApiTokenSchema,
  CreateTokenBody,
  errorResponses,
  NewApiTokenSchema,
  SourceNameSchema,
  TokenIdParam,
  UidParam,
} from "./schemas.ts";
import { newApiToken } from "./secrets.ts";
import { type AuthService, passwordChangedMeanwhile } from "./service.ts";
import {
  type ApiTokenRow,
  insertApiToken,
  listApiTokens,
  lockUserCredentials,
  revokeApiToken,
  updateApiToken,
} from "./token_queries.ts";

const json = <T>(schema: T) => ({ "application/json": { schema } });

const create = secureRoute({
  method: "post",
  path: "/users/{uid}/tokens",
  roles: ["admin"],
  self: "uid",
  tags: ["tokens"],
  summary: "Create an API token; the reply holds the secret, shown this once",
  description: "Needs the caller's password: a Basic header, a login (getToken) less than " +
    "5 minutes ago, or `currentPassword`. The token expires at `expires`, at most " +
    "auth.token_max_lifetime_days away (the default when omitted).",
  request: { params: UidParam, body: { required: true, content: json(CreateTokenBody) } },
  responses: {
    201: { description: "created", content: json(NewApiTokenSchema) },
    ...errorResponses,
    404: { description: "no such user" },
    409: { description: "the user's password was changed meanwhile (by someone else)" },
    422: { description: "invalid field, or currentPassword needed or wrong" },
  },
});

const list = secureRoute({
  method: "get",
  path: "/users/{uid}/tokens",
  roles: ["admin"],
  self: "uid",
  tags: ["tokens"],
  summary: "List a user's API tokens (without secrets)",
  request: { params: UidParam },
  responses: {
    200: {
      description: "the tokens, newest first",
      content: json(z.object({ items: z.array(ApiTokenSchema) })),
    },
    ...errorResponses,
    404: { description: "no such user" },
  },
});

const UpdateTokenBody = z.object({
  name: z.string().trim().min(1).max(100).optional().openapi({ example: "HMIS bridge" }),
  sourceName: SourceNameSchema.nullable().optional().openapi({
    description: "null: use the user's sourceName again",
  }),
}).openapi("UpdateApiToken");

const update = secureRoute({
  method: "put",
  path: "/users/{uid}/tokens/{id}",
  roles: ["admin"],
  tags: ["tokens"],
  summary: "Rename a token or set its sourceName (admin)",
  request: { params: TokenIdParam, body: { required: true, content: json(UpdateTokenBody) } },
  responses: {
    200: { description: "updated", content: json(ApiTokenSchema) },
    ...errorResponses,
    404: { description: "no such user or token" },
  },
});

const revoke = secureRoute({
  method: "delete",
  path: "/users/{uid}/tokens/{id}",
  roles: ["admin"],
  self: "uid",
  tags: ["tokens"],
  summary: "Revoke an API token",
  request: { params: TokenIdParam },
  responses: {
    200: { description: "revoked", content: json(ApiTokenSchema) },
    ...errorResponses,
    404: { description: "no such user or token" },
  },
});

export function toTokenJson(t: ApiTokenRow) {
  return {
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    sourceName: t.source_name,
    created: t.created.toISOString(),
    lastUsed: t.last_used?.toISOString() ?? null,
    expires: t.expires.toISOString(),
    revoked: t.revoked_at?.toISOString() ?? null,
  };
}

export function tokenRoutes(deps: { sql: Sql; auth: AuthService; config: Readonly<Config> }) {
  const { sql, auth, config } = deps;
  const owner = async (uid: string): Promise<UserRow> => {
    const user = await userByUid(sql, uid);
    if (!user) throw notFound(`no user with uid ${uid}`);
    return user;
  };
  const maxDays = config.auth.token_max_lifetime_days;
  return newRouter()
    .openapi(create, async (c) => {
      const body = c.req.valid("json");
      const me = c.get("principal")!;
      const user = await owner(c.req.valid("param").uid);
      if (body.sourceName !== undefined && me.role !== "admin") {
        throw new AppError("forbidden", "only an admin may set a token's sourceName");
      }
      const now = Date.now();
      const latest = now + maxDays * 86_400_000;
      const expires = new Date(body.expires ? Date.parse(body.expires) : latest);
      if (expires.getTime() <= now) {
        throw validationFailed("expires is in the past", [
          { field: "expires", message: "must be in the future" },
        ]);
      }
      if (expires.getTime() > latest) {
        throw validationFailed(`expires is more than ${maxDays} days away`, [
          {
            field: "expires",
            message: `must be at most ${maxDays} days away (auth.token_max_lifetime_days)`,
          },
        ]);
      }
      // A stolen 15-minute access token must not turn into a long-lived credential.
      const proven = await auth.confirmPassword(me, body.currentPassword, clientAddress(c));
      const self = user.id === me.userId;
      const secret = newApiToken();
      const row = await sql.begin(async (tx) => {
        // A reset that committed since the password (own token) or the user (an admin's) was
        // read would not see this token: refused, rather than outliving it.
        const now = await lockUserCredentials(tx, user.id);
        if (now !== (self ? proven : user.token_generation)) {
          throw self ? passwordChangedMeanwhile() : new AppError(
            "conflict",
            `the password of ${user.username} was changed or the account deactivated while ` +
              "this request ran; nothing was created, try again",
          );
        }
        return await insertApiToken(tx, {
          user_id: user.id,
          name: body.name,
          prefix: secret.prefix,
          token_hash: secret.hash,
          source_name: body.sourceName ?? null,
          expires,
        });
      });
      return c.json({ ...toTokenJson(row), token: secret.token }, 201);
    })
    .openapi(list, async (c) => {
      const user = await owner(c.req.valid("param").uid);
      return c.json({ items: (await listApiTokens(sql, user.id)).map(toTokenJson) }, 200);
    })
    .openapi(update, async (c) => {
      const { uid, id } = c.req.valid("param");
      const body = c.req.valid("json");
      const user = await owner(uid);
      const row = await updateApiToken(sql, user.id, id, {
        name: body.name,
        source_name: body.sourceName,
      });
      if (!row) throw notFound(`user ${uid} has no API token ${id}`);
      auth.forgetToken(id);
      return c.json(toTokenJson(row), 200);
    })
    .openapi(revoke, async (c) => {
      const { uid, id } = c.req.valid("param");
      const user = await owner(uid);
      const row = await revokeApiToken(sql, user.id, id);
      if (!row) throw notFound(`user ${uid} has no API token ${id}`);
      auth.forgetToken(id);
      return c.json(toTokenJson(row), 200);
    });
}
