/**
 * GET /api/v3/audit (and its CSV export): who requeued, purged, deleted, imported or edited
 * mappings, created or changed users and tokens, when, and with what filter or counts; counts
 * per action for the same filter. Admins only.
 */
import { z } from "@hono/zod-openapi";
import { stringify } from "csv-stringify/sync";
import { secureRoute } from "../auth/guard.ts";
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import { ListQuery, PAGE_FIELDS, pageOf, TIME_AND_PAGING } from "../http/list_query.ts";
import { newRouter } from "../http/router.ts";
import { type AuditFilter, exportAudit, listAudit } from "./queries.ts";

export interface AuditDeps {
  config: Readonly<Config>;
  sql: Sql;
}

export const AUDIT_FILTER_KEYS = ["actor", "action", "target", "from", "to"] as const;
/** Rows in one CSV export; narrow the filter for more. */
export const AUDIT_EXPORT_MAX = 100_000;

const AuditItem = z.object({
  id: z.number().int(),
  at: z.string(),
  actor_uid: z.string().nullable(),
  actor_username: z.string(),
  via: z.enum(["api", "cli"]),
  action: z.string().openapi({ example: "submissions.purge" }),
  target: z.string().nullable(),
  details: z.record(z.string(), z.unknown()).openapi({
    example: { query: { date: "2026-01-01" }, result: { deleted: 120 } },
  }),
  request_id: z.string().nullable(),
  client_ip: z.string().nullable(),
}).openapi("AuditEntry");

const AuditPage = z.object({
  items: z.array(AuditItem),
  ...PAGE_FIELDS,
  by_action: z.record(z.string(), z.number().int()),
}).openapi("AuditPage");

const Query = z.object({
  actor: z.string().optional().openapi({ description: "username, any case" }),
  action: z.string().optional().openapi({
    description: "an action (mapping.update) or its start (mapping.)",
  }),
  target: z.string().optional().openapi({ description: "a submission id, uid or username" }),
  ...TIME_AND_PAGING,
});

const list = secureRoute({
  method: "get",
  path: "/api/v3/audit",
  tags: ["audit"],
  summary: "Admin actions, newest first, with counts per action for the same filter",
  roles: ["admin"],
  request: { query: Query },
  responses: {
    200: { description: "a page", content: { "application/json": { schema: AuditPage } } },
    422: { description: "a filter, page or page_size is invalid or unknown (each is named)" },
  },
});

const exportCsv = secureRoute({
  method: "get",
  path: "/api/v3/audit/export.csv",
  tags: ["audit"],
  summary: `Admin actions matching the filters as CSV, oldest first (at most ${AUDIT_EXPORT_MAX})`,
  roles: ["admin"],
  request: { query: Query.omit({ page: true, page_size: true }) },
  responses: {
    200: { description: "CSV", content: { "text/csv": { schema: z.string() } } },
    422: { description: "a filter is invalid or unknown (each is named)" },
  },
});

function parse(raw: Record<string, string>, paged: boolean) {
  const q = new ListQuery(raw, paged ? AUDIT_FILTER_KEYS : [...AUDIT_FILTER_KEYS]);
  const filter: AuditFilter = {
    actor: q.text("actor", 64),
    action: q.text("action", 100),
    target: q.text("target", 200),
    from: q.time("from"),
    to: q.time("to"),
  };
  if (!paged && (raw.page || raw.page_size)) {
    q.problems.push({ field: "page", message: "the export has no pages" });
  }
  const paging = q.paging();
  q.done();
  return { filter, paging };
}

export function auditRoutes(deps: AuditDeps) {
  const tz = deps.config.server.timezone;
  return newRouter()
    .openapi(list, async (c) => {
      const { filter, paging } = parse(c.req.query(), true);
      const r = await listAudit(deps.sql, filter, paging, tz);
      const items = r.items.map((i) => ({ ...i, at: i.at.toISOString() }));
      return c.json({ ...pageOf(items, r.total, paging), by_action: r.byAction }, 200);
    })
    .openapi(exportCsv, async (c) => {
      const { filter } = parse(c.req.query(), false);
      const rows = await exportAudit(deps.sql, filter, tz, AUDIT_EXPORT_MAX);
      const csv = stringify([
        ["at", "actor", "via", "action", "target", "details", "request_id", "client_ip"],
        ...rows.map((r) => [
          r.at.toISOString(),
          r.actor_username,
          r.via,
          r.action,
          r.target ?? "",
          JSON.stringify(r.details),
          r.request_id ?? "",
          r.client_ip ?? "",
        ]),
      ], {
        // A cell starting with = + - @ would run as a formula in a spreadsheet.
        cast: { string: (v) => (/^[=+\-@\t\r]/.test(v) ? `'${v}` : v) },
      });
      c.header("Content-Disposition", 'attachment; filename="dhis2gw-audit.csv"');
      return c.body(csv, 200, { "Content-Type": "text/csv; charset=utf-8" });
    });
}
