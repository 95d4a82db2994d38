/**
 * The old service's paths outside /api/v2 (old-go-service.md §1.2, routes 19–21): the
 * unauthenticated mapping template, the Swagger document, and the log viewer, which is the
 * console now.
 */
import { Hono } from "hono";
import type { AppEnv } from "../http/env.ts";
import { templateXlsx } from "../mappings/excel.ts";
import type { AppFetch } from "./forward.ts";

const XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

export function oldPaths(fetch: AppFetch): Hono<AppEnv> {
  return new Hono<AppEnv>()
    // Headers and instructions only, no data: as safe without credentials as it was.
    .get("/mappings/export/excel-template", () =>
      new Response(templateXlsx() as BodyInit, {
        headers: {
          "Content-Type": XLSX_TYPE,
          "Content-Disposition": 'attachment; filename="dhis2_mappings_template.xlsx"',
        },
      }))
    // gin-swagger's document path: today's document (it describes /api/v3).
    .get("/swagger/doc.json", (c) => fetch(new Request(new URL("/openapi.json", c.req.url)), c.env))
    .get("/logs-viewer", (c) => c.redirect("/admin/submissions"));
}
