/**
 * GET /api/v3/logs/export/csv: the submission list's filters, every matching row (newest
 * first, up to EXPORT_MAX_ROWS) as CSV for a spreadsheet. A submitter gets its own rows only,
 * as in the list.
 */
import { z } from "@hono/zod-openapi";
import { stringify } from "csv-stringify/sync";
import { secureRoute } from "../auth/guard.ts";
import { type Principal, ROLES } from "../auth/principal.ts";
import { AppError } from "../http/errors.ts";
import { newRouter } from "../http/router.ts";
import { escapeCsvCell } from "../mappings/csv.ts";
import { filterSql, parseLogFilter } from "./filters.ts";
import type { LogsDeps } from "./logs_handlers.ts";
import { FilterQuery } from "./logs_schemas.ts";
import { listSubmissions, type SubmissionSummary } from "./queries.ts";

/** A spreadsheet's comfortable size; the reply says when more matched (X-Total-Count). */
export const EXPORT_MAX_ROWS = 50_000;

const COLUMNS: [string, (s: SubmissionSummary) => unknown][] = [
  ["id", (s) => s.id],
  ["task_id", (s) => s.task_id],
  ["status", (s) => s.status],
  ["submitted_at", (s) => s.submitted_at.toISOString()],
  ["finished_at", (s) => s.finished_at?.toISOString() ?? ""],
  ["user", (s) => s.user],
  ["source_name", (s) => s.source_name],
  ["org_unit", (s) => s.org_unit],
  ["org_unit_name", (s) => s.org_unit_name ?? ""],
  ["period", (s) => s.period],
  ["data_set", (s) => s.data_set],
  ["attempts", (s) => s.attempts],
  ["http_status", (s) => s.http_status ?? ""],
  ["dhis2_status", (s) => s.dhis2_status ?? ""],
  ["imported", (s) => s.import_count?.imported ?? ""],
  ["updated", (s) => s.import_count?.updated ?? ""],
  ["ignored", (s) => s.import_count?.ignored ?? ""],
  ["deleted", (s) => s.import_count?.deleted ?? ""],
  ["last_error", (s) => s.last_error ?? ""],
];

const exportCsv = secureRoute({
  method: "get",
  path: "/api/v3/logs/export/csv",
  tags: ["logs"],
  summary: "The filtered submission list as CSV (newest first, at most 50,000 rows)",
  description: "Takes the filters of GET /api/v3/logs. X-Total-Count says how many matched.",
  roles: ROLES,
  request: { query: FilterQuery },
  responses: {
    200: {
      description: "CSV, one row per submission",
      content: { "text/csv": { schema: z.string() } },
    },
    422: { description: "a filter is invalid or unknown (each is named)" },
  },
});

export function exportRoutes(deps: LogsDeps) {
  return newRouter().openapi(exportCsv, async (c) => {
    const { filter, problems } = parseLogFilter(c.req.queries());
    if (problems.length) {
      throw new AppError(
        "validation_failed",
        `invalid request: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`,
        { details: problems },
      );
    }
    const me = c.get("principal") as Principal;
    const f = me.role === "submitter" ? { ...filter, userUid: me.uid } : filter;
    const tz = deps.config.server.timezone;
    const { items, total } = await listSubmissions(
      deps.sql,
      (tx) => filterSql(tx, f, tz),
      1,
      EXPORT_MAX_ROWS,
    );
    const rows = items.map((s) => COLUMNS.map(([, get]) => escapeCsvCell(String(get(s)))));
    const text = stringify([COLUMNS.map(([name]) => name), ...rows], { record_delimiter: "\r\n" });
    const day = new Date().toISOString().slice(0, 10);
    return c.body(text, 200, {
      "Content-Type": "text/csv; charset=utf-8",
      "Content-Disposition": `attachment; filename="dhis2gw_submissions_${day}.csv"`,
      "X-Total-Count": String(total),
    });
  });
}
