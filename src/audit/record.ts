/**
 * Records every successful admin action in the audit trail: a middleware on /api/v3 that,
 * after a change succeeded (2xx), writes who did it, what, to what, and its filter and counts.
 * The console calls the same API in-process, so its actions are recorded the same way.
 *
 * Details come from the query string and the reply, never from a request body (which may
 * carry a password), except the requeue selection; keys that name a secret are dropped, so a
 * new token's value never reaches the trail.
 */
import type { MiddlewareHandler } from "hono";
import { clientAddress } from "../auth/middleware.ts";
import type { Db } from "../db/db.ts";
import type { AppEnv } from "../http/env.ts";
import type { Logger } from "../logs/logger.ts";
import { insertAudit } from "./queries.ts";

interface Rule {
  method: string;
  path: RegExp;
  action: string;
  /** Reads the requeue selection from the JSON body. */
  body?: boolean;
}

/** Named actions; any other change under /api/v3 is recorded under its method and path. */
const RULES: Rule[] = [
  { method: "POST", path: /^\/api\/v3\/logs\/requeue$/, action: "submissions.requeue", body: true },
  {
    method: "POST",
    path: /^\/api\/v3\/aggregate\/reenqueue\/batch$/,
    action: "submissions.requeue",
    body: true,
  },
  { method: "POST", path: /^\/api\/v3\/logs\/([^/]+)\/requeue$/, action: "submission.requeue" },
  { method: "*", path: /^\/api\/v3\/aggregate\/reenqueue\/([^/]+)$/, action: "submission.requeue" },
  { method: "DELETE", path: /^\/api\/v3\/logs\/purge$/, action: "submissions.purge" },
  { method: "DELETE", path: /^\/api\/v3\/logs\/([^/]+)$/, action: "submission.delete" },
  { method: "POST", path: /^\/api\/v3\/mappings\/import\/(\w+)$/, action: "mappings.import" },
  { method: "POST", path: /^\/api\/v3\/mappings$/, action: "mapping.create" },
  { method: "PUT", path: /^\/api\/v3\/mappings\/([^/]+)$/, action: "mapping.update" },
  { method: "PATCH", path: /^\/api\/v3\/mappings\/([^/]+)$/, action: "mapping.update" },
  { method: "DELETE", path: /^\/api\/v3\/mappings\/([^/]+)$/, action: "mapping.delete" },
  { method: "PUT", path: /^\/api\/v3\/tracker\/mappings$/, action: "tracker_mappings.replace" },
  { method: "POST", path: /^\/api\/v3\/users?$/, action: "user.create" },
  { method: "POST", path: /^\/api\/v3\/users\/([^/]+)\/tokens$/, action: "token.create" },
  { method: "PUT", path: /^\/api\/v3\/users\/([^/]+)\/tokens\/([^/]+)$/, action: "token.update" },
  {
    method: "DELETE",
    path: /^\/api\/v3\/users\/([^/]+)\/tokens\/([^/]+)$/,
    action: "token.revoke",
  },
  { method: "PUT", path: /^\/api\/v3\/users\/([^/]+)$/, action: "user.update" },
  { method: "PATCH", path: /^\/api\/v3\/users\/([^/]+)$/, action: "user.update" },
  { method: "DELETE", path: /^\/api\/v3\/users\/([^/]+)$/, action: "user.delete" },
];

/** Changes that are not admin actions: intake, and a caller's own session. */
const NOT_ADMIN = [
  /^\/api\/v3\/(aggregate|tracker|events|trackedEntities)$/,
  /^\/api\/v3\/users\/(getToken|refreshToken|logout)$/,
  /^\/api\/v3\/auth\//,
];

const SECRET_KEY = /token$|^token|password|secret|hash|pat$/i;
const SAFE_STRING = /^[\w .:@+\-/,]{0,120}$/;

/** Numbers, booleans and short plain strings of an object's top level, never a secret's key. */
function safeFields(obj: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) return out;
  for (const [k, v] of Object.entries(obj)) {
    if (SECRET_KEY.test(k) || k === "message") continue;
    if (typeof v === "number" || typeof v === "boolean") out[k] = v;
    else if (typeof v === "string" && SAFE_STRING.test(v) && !v.startsWith("d2gw_")) out[k] = v;
  }
  return out;
}

/** A selection of ids, kept short: the first 20 and how many. */
function selection(body: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!body || typeof body !== "object") return out;
  for (const [k, v] of Object.entries(body)) {
    if (SECRET_KEY.test(k)) continue;
    if (Array.isArray(v)) out[k] = { count: v.length, first: v.slice(0, 20) };
    else if (k === "filter" && v && typeof v === "object") out.filter = v;
    else if (typeof v !== "object") out[k] = v;
  }
  return out;
}

export function auditActions(deps: { sql: Db; log: Logger }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    const method = c.req.method;
    if (method === "GET" || method === "HEAD" || method === "OPTIONS") {
      if (!/\/aggregate\/reenqueue\//.test(c.req.path)) return;
    }
    if (c.res.status < 200 || c.res.status >= 300) return;
    const path = c.req.path;
    if (NOT_ADMIN.some((re) => re.test(path))) return;
    const principal = c.get("principal");
    if (!principal) return;
    const rule = RULES.find((r) => (r.method === "*" || r.method === method) && r.path.test(path));
    const m = rule ? rule.path.exec(path)! : null;
    const details: Record<string, unknown> = {};
    const query = safeFields(c.req.query());
    if (Object.keys(query).length) details.query = query;
    if (rule?.body) {
      const body = await c.req.json().catch(() => undefined);
      const sel = selection(body);
      if (Object.keys(sel).length) details.selection = sel;
    }
    if ((c.res.headers.get("content-type") ?? "").includes("json")) {
      const reply = await c.res.clone().json().catch(() => undefined);
      const fields = safeFields(reply);
      if (Object.keys(fields).length) details.result = fields;
    }
    const target = m ? m.slice(1).map(decodeURIComponent).join("/") || null : null;
    try {
      await insertAudit(deps.sql, {
        actor_uid: principal.uid,
        actor_username: principal.username,
        via: "api",
        action: rule?.action ?? `${method} ${path.replace(/\/\d+(?=\/|$)/g, "/{id}")}`,
        target: target ?? (details.result as { uid?: string } | undefined)?.uid ?? null,
        details,
        request_id: c.get("requestId") ?? null,
        client_ip: clientAddress(c) === "unknown" ? null : clientAddress(c),
      });
    } catch (err) {
      // The change itself is done and committed; the reply must still reach the caller.
      deps.log.error("could not write the audit trail", {
        error: err as Error,
        action: rule?.action,
        requestId: c.get("requestId"),
      });
    }
  };
}
