/** Request and reply shapes of the auth routes, with the examples the OpenAPI document shows. */
import { z } from "@hono/zod-openapi";
import { pagingParams } from "../http/list_query.ts";
import { ROLES } from "./principal.ts";

export const RoleSchema = z.enum(ROLES).openapi({
  example: "submitter",
  description: "admin: everything; submitter: submit data, read own submissions; viewer: read",
});

export const UidParam = z.object({
  uid: z.string().openapi({
    param: { name: "uid", in: "path" },
    example: "Xk3tQ9mLp2A",
  }),
});

export const TokenIdParam = UidParam.extend({
  id: z.coerce.number().int().positive().openapi({
    param: { name: "id", in: "path" },
    example: 12,
  }),
});

const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const SourceNameSchema = z.string().regex(
  SOURCE_NAME,
  "must be 1-64 letters, digits, dot, underscore or hyphen, starting with a letter or digit",
).openapi({ example: "default", description: "which mappings this caller's submissions use" });

export const UsernameSchema = z.string().regex(
  /^[A-Za-z0-9][A-Za-z0-9._@+-]{2,63}$/,
  "must be 3-64 letters, digits or . _ @ + -, starting with a letter or digit",
).openapi({ example: "hmis_bridge" });

export const UserSchema = z.object({
  uid: z.string().openapi({ example: "Xk3tQ9mLp2A" }),
  username: z.string().openapi({ example: "hmis_bridge" }),
  firstName: z.string().openapi({ example: "HMIS" }),
  lastName: z.string().openapi({ example: "Bridge" }),
  email: z.string().nullable().openapi({ example: "hmis@example.org" }),
  telephone: z.string().openapi({ example: "+256700000000" }),
  role: RoleSchema,
  isActive: z.boolean(),
  isAdminUser: z.boolean().openapi({ description: "role = admin (the old service's flag)" }),
  sourceName: z.string().openapi({ example: "default" }),
  lastLogin: z.string().nullable().openapi({ example: "2026-05-02T08:15:00.000Z" }),
  created: z.string().openapi({ example: "2026-05-01T10:00:00.000Z" }),
  updated: z.string().openapi({ example: "2026-05-01T10:00:00.000Z" }),
}).openapi("User");

/** Empty strings from old clients mean "no value" for optional text fields. */
const optionalText = (max: number, example: string) =>
  z.string().max(max, `must be at most ${max} characters`).optional().openapi({ example });

/** The old service read `firstname`/`lastname` too (old-go-service.md: PUT /users/:uid). */
const oldSpelling = (field: string) =>
  z.string().max(100, "must be at most 100 characters").optional().openapi({
    description: `the old service's spelling of ${field}; ${field} wins when both are sent`,
  });

export const CreateUserBody = z.object({
  username: UsernameSchema,
  password: z.string().openapi({ example: "correct horse battery staple" }),
  firstName: optionalText(100, "HMIS"),
  lastName: optionalText(100, "Bridge"),
  firstname: oldSpelling("firstName"),
  lastname: oldSpelling("lastName"),
  email: z.union([z.email("must be an email address"), z.literal("")]).optional().openapi({
    example: "hmis@example.org",
  }),
  telephone: optionalText(40, "+256700000000"),
  isActive: z.boolean().optional().openapi({ example: true }),
  isAdminUser: z.boolean().optional().openapi({
    description: "the old service's flag: true alone means role admin",
    example: false,
  }),
  role: RoleSchema.optional().openapi({ description: "default: submitter (admin if isAdminUser)" }),
  sourceName: SourceNameSchema.optional(),
}).openapi("CreateUser");

export const UpdateUserBody = z.object({
  username: UsernameSchema.optional(),
  password: z.string().optional().openapi({ example: "a new long passphrase" }),
  currentPassword: z.string().optional().openapi({
    description: "required when changing your own password",
  }),
  keepApiTokens: z.boolean().optional().openapi({
    description: "admin only: a new password leaves the user's API tokens working",
  }),
  firstName: optionalText(100, "HMIS"),
  lastName: optionalText(100, "Bridge"),
  firstname: oldSpelling("firstName"),
  lastname: oldSpelling("lastName"),
  email: z.union([z.email("must be an email address"), z.literal("")]).nullable().optional(),
  telephone: optionalText(40, "+256700000000"),
  isActive: z.boolean().optional(),
  isAdminUser: z.boolean().optional(),
  role: RoleSchema.optional(),
  sourceName: SourceNameSchema.optional(),
}).openapi("UpdateUser");

const boolQuery = z.string().optional().openapi({ description: "true, false, 1 or 0" });

/** The filters of GET /api/v3/users, in the order a 422 lists them as known. */
export const USER_FILTER_KEYS = [
  "uid",
  "username",
  "email",
  "is_active",
  "is_admin",
  "role",
] as const;

/** For the OpenAPI document; the route parses the values with ListQuery (plain-worded 422s). */
export const ListUsersQuery = z.object({
  uid: z.string().optional().openapi({ example: "Xk3tQ9mLp2A" }),
  username: z.string().optional().openapi({ example: "hmis_bridge" }),
  email: z.string().optional(),
  is_active: boolQuery.openapi({ example: "true" }),
  is_admin: boolQuery.openapi({
    example: "false",
    description: "the old service's filter: true = role admin, false = any other role",
  }),
  role: z.string().optional().openapi({ example: "submitter", description: ROLES.join(", ") }),
  ...pagingParams(500, 20),
});

export const UserPage = z.object({
  items: z.array(UserSchema),
  total: z.number().int(),
  page: z.number().int(),
  page_size: z.number().int(),
  total_pages: z.number().int(),
}).openapi("UserPage");

export const LoginBody = z.object({
  username: z.string().min(1).max(256).openapi({ example: "hmis_bridge" }),
  password: z.string().min(1).max(1024).openapi({ example: "correct horse battery staple" }),
}).openapi("Login");

export const RefreshBody = z.object({
  refreshToken: z.string().min(1).max(512).openapi({ example: "b3Jx...base64url" }),
}).openapi("Refresh");

export const SessionSchema = z.object({
  message: z.string().openapi({ example: "Token created successfully" }),
  token: z.string().openapi({ description: "JWT access token (HS256)", example: "eyJhbGciOi..." }),
  refreshToken: z.string().openapi({ description: "opaque; single use", example: "b3Jx..." }),
  expires: z.string().openapi({ example: "2026-05-02T08:30:00.000Z" }),
  refreshExpires: z.string().openapi({ example: "2026-05-09T08:15:00.000Z" }),
  tokenType: z.literal("Bearer"),
}).openapi("Session");

export const LogoutReply = z.object({
  message: z.string().openapi({ example: "Signed out" }),
  revoked: z.number().int().openapi({ description: "refresh tokens revoked", example: 3 }),
}).openapi("Logout");

export const CreateTokenBody = z.object({
  name: z.string().trim().min(1, "must not be empty").max(100).openapi({ example: "HMIS bridge" }),
  expires: z.iso.datetime({ offset: true, message: "must be an ISO 8601 date-time" }).nullable()
    .optional().openapi({
      example: "2027-01-01T00:00:00Z",
      description: "at most auth.token_max_lifetime_days away (default 365); omitted or " +
        "null: that many days from now",
    }),
  sourceName: SourceNameSchema.optional().openapi({ description: "admin only" }),
  currentPassword: z.string().max(1024).optional().openapi({
    description: "the caller's own password; not needed with Basic or within 5 minutes of a " +
      "login (getToken)",
  }),
}).openapi("CreateApiToken");

export const ApiTokenSchema = z.object({
  id: z.number().int().openapi({ example: 12 }),
  name: z.string().openapi({ example: "HMIS bridge" }),
  prefix: z.string().openapi({ example: "Ab3dEf9h" }),
  sourceName: z.string().nullable().openapi({ example: null }),
  created: z.string(),
  lastUsed: z.string().nullable(),
  expires: z.string(),
  revoked: z.string().nullable(),
}).openapi("ApiToken");

export const NewApiTokenSchema = ApiTokenSchema.extend({
  token: z.string().openapi({
    description: "the secret; shown this once",
    example: "d2gw_Ab3dEf9h_x8Kq...",
  }),
}).openapi("NewApiToken");

export const MessageSchema = z.object({ message: z.string() });

export const errorResponses = {
  401: { description: "missing or bad credentials (WWW-Authenticate says which schemes)" },
  403: { description: "your role may not do this" },
} as const;
