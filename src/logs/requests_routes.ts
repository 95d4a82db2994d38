/**
 * GET /api/v3/requests: the request log, newest first, with why each refused request was
 * refused (status >= 400: the error code, message and field names) and who it came from: the
 * signed-in user, or for a 401 the username or token prefix it claimed (identity_verified
 * false). When a partner says "we sent it", its username finds what happened.
 */
import { z } from "@hono/zod-openapi";
import { secureRoute } from "../auth/guard.ts";
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import { ListQuery, PAGE_FIELDS, pageOf, TIME_AND_PAGING } from "../http/list_query.ts";
import { newRouter } from "../http/router.ts";
import { listRequests, type RequestFilter } from "./requests_queries.ts";

export interface RequestsDeps {
  config: Readonly<Config>;
  sql: Sql;
}

export const REQUEST_FILTER_KEYS = ["username", "status", "path", "from", "to"] as const;

const RequestItem = z.object({
  id: z.number().int(),
  at: z.string(),
  request_id: z.string(),
  method: z.string(),
  path: z.string(),
  status: z.number().int(),
  duration_ms: z.number().int(),
  user_uid: z.string().nullable(),
  username: z.string().nullable().openapi({
    description: "the signed-in user, or (identity_verified false) the username a refused " +
      "request's Basic header or token claimed",
  }),
  identity_verified: z.boolean().nullable(),
  token_prefix: z.string().nullable().openapi({
    description: "the public prefix of the API token sent (never the token)",
  }),
  client_ip: z.string().nullable(),
  error: z.object({
    code: z.string().nullable(),
    message: z.string().nullable(),
    fields: z.array(z.string()),
  }).nullable(),
}).openapi("RequestLogEntry");

const RequestPage = z.object({
  items: z.array(RequestItem),
  ...PAGE_FIELDS,
}).openapi("RequestLogPage");

const Query = z.object({
  username: z.string().optional().openapi({ description: "exact, any case; claimed ones too" }),
  status: z.string().optional().openapi({
    description: "401, a class such as 4xx, or refused (every 4xx and 5xx)",
  }),
  path: z.string().optional().openapi({ description: "paths starting with this" }),
  ...TIME_AND_PAGING,
});

const list = secureRoute({
  method: "get",
  path: "/api/v3/requests",
  tags: ["logs"],
  summary: "The request log, newest first; refused requests carry their reason",
  roles: ["admin", "viewer"],
  request: { query: Query },
  responses: {
    200: { description: "a page", content: { "application/json": { schema: RequestPage } } },
    422: { description: "a filter, page or page_size is invalid or unknown (each is named)" },
  },
});

function statusRange(raw: string | undefined, q: ListQuery): RequestFilter["status"] {
  if (!raw) return undefined;
  const v = raw.trim().toLowerCase();
  if (v === "refused") return { min: 400, max: 599 };
  if (/^[1-5]xx$/.test(v)) return { min: Number(v[0]) * 100, max: Number(v[0]) * 100 + 99 };
  if (/^[1-5]\d\d$/.test(v)) return { min: Number(v), max: Number(v) };
  q.problems.push({ field: "status", message: "must be a status (401), a class (4xx) or refused" });
  return undefined;
}

export function requestsRoutes(deps: RequestsDeps) {
  return newRouter().openapi(list, async (c) => {
    const raw = c.req.query();
    const q = new ListQuery(raw, REQUEST_FILTER_KEYS);
    const filter: RequestFilter = {
      username: q.text("username", 64),
      status: statusRange(raw.status, q),
      path: q.text("path", 500),
      from: q.time("from"),
      to: q.time("to"),
    };
    const paging = q.paging();
    q.done();
    const { items, total } = await listRequests(
      deps.sql,
      filter,
      paging,
      deps.config.server.timezone,
    );
    return c.json(
      pageOf(
        items.map((r) => ({
          id: r.id,
          at: r.at.toISOString(),
          request_id: r.request_id,
          method: r.method,
          path: r.path,
          status: r.status,
          duration_ms: r.duration_ms,
          user_uid: r.user_uid,
          username: r.username,
          identity_verified: r.identity_verified,
          token_prefix: r.token_prefix,
          client_ip: r.client_ip,
          error: r.status >= 400
            ? { code: r.error_code, message: r.error_message, fields: r.error_fields ?? [] }
            : null,
        })),
        total,
        paging,
      ),
      200,
    );
  });
}
