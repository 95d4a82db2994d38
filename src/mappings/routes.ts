/**
 * /api/v3/mappings: list with filters and paging, CRUD by uid, import from CSV and Excel, export
 * that re-imports. Admins write; viewers and submitters read (a submitter's system sends these
 * codes, so it may read the code book; mappings hold no secrets). The old service's unauthenticated
 * /mappings/export/excel-template is src/compat/'s (headers only); the template is here too.
 */
import type { Context } from "hono";
import { secureRoute } from "../auth/guard.ts";
import { type Role, ROLES } from "../auth/principal.ts";
import { type Config, destinationsOf } from "../config/config.ts";
import { checkAgainstDestinations } from "./dhis2_destinations.ts";
import { PG, pgCode, type Sql, type TransactionSql } from "../db/db.ts";
import { destinationNames } from "../config/warnings.ts";
import { generateUid } from "../dhis2/uid.ts";
import { pageOf } from "../http/list_query.ts";
import { newRouter } from "../http/router.ts";
import type { AppEnv } from "../http/env.ts";
import type { Logger } from "../logs/logger.ts";
import { AppError, notFound } from "../http/errors.ts";
import { zodProblems } from "../http/validation.ts";
import { type MetadataClient, metadataClientFromConfig } from "./dhis2_snapshot.ts";
import { templateXlsx } from "./excel.ts";
import { parseMappingQuery } from "./filter_query.ts";
import { heavyWork, type ImportFormat, importMappings } from "./import.ts";
import { exportInWorker } from "./offload.ts";
import { MAPPING_COLUMNS, type MappingInput, mappingInputSchema } from "./model.ts";
import {
  deleteMapping,
  exportMappings,
  insertMapping,
  listMappings,
  lockForWrite,
  mappingByUid,
  type MappingRow,
  toInput,
  toMapping,
  updateMapping,
} from "./queries.ts";
import {
  ErrorSchema,
  FilterQuery,
  ImportFile,
  ImportQuery,
  ImportReportSchema,
  ListMappingsQuery,
  MappingBody,
  MappingPage,
  MappingSchema,
  UidParam,
} from "./schemas.ts";

export interface MappingRoutesDeps {
  sql: Sql;
  config: Readonly<Config>;
  /** Told after every committed change, so this process's look-ups see it at once. */
  cache?: { invalidate(): void };
  /** For validate=dhis2; default: a client from the config's api.dhis2_* settings. */
  dhis2?: MetadataClient;
  log?: Logger;
}

const READ = ROLES;
const WRITE: Role[] = ["admin"];
const TAGS = ["mappings"];
const json = <T>(schema: T) => ({ "application/json": { schema } });
const auth = {
  401: { description: "missing or bad credentials" },
  403: { description: "your role may not do this" },
} as const;
const XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const binary = { schema: { type: "string" as const, format: "binary" } };

const list = secureRoute({
  method: "get",
  path: "/mappings",
  roles: READ,
  tags: TAGS,
  summary: "List mappings; every filter is applied, and they combine with AND",
  request: { query: ListMappingsQuery },
  responses: {
    200: { description: "a page", content: json(MappingPage) },
    ...auth,
    422: { description: "a filter, page or page_size is invalid or unknown (each is named)" },
  },
});

const create = secureRoute({
  method: "post",
  path: "/mappings",
  roles: WRITE,
  tags: TAGS,
  summary: "Create one mapping",
  request: { body: { required: true, content: json(MappingBody) } },
  responses: {
    201: { description: "created", content: json(MappingSchema) },
    ...auth,
    409: { description: "same code, sourceName, instanceName and what exists already" },
    422: { description: "a field is missing or malformed (each is named)" },
  },
});

const getOne = secureRoute({
  method: "get",
  path: "/mappings/{uid}",
  roles: READ,
  tags: TAGS,
  summary: "One mapping",
  request: { params: UidParam },
  responses: {
    200: { description: "the mapping", content: json(MappingSchema) },
    ...auth,
    404: { description: "no such mapping" },
  },
});

const update = secureRoute({
  method: "put",
  path: "/mappings/{uid}",
  roles: WRITE,
  tags: TAGS,
  summary: "Change a mapping: fields left out keep their values",
  request: { params: UidParam, body: { required: true, content: json(MappingBody) } },
  responses: {
    200: { description: "updated", content: json(MappingSchema) },
    ...auth,
    404: { description: "no such mapping" },
    409: { description: "the new key belongs to another mapping" },
    422: { description: "a field is missing or malformed (each is named)" },
  },
});

const remove = secureRoute({
  method: "delete",
  path: "/mappings/{uid}",
  roles: WRITE,
  tags: TAGS,
  summary: "Delete a mapping (the reply is the deleted mapping)",
  request: { params: UidParam },
  responses: {
    200: { description: "deleted", content: json(MappingSchema) },
    ...auth,
    404: { description: "no such mapping" },
  },
});

function importRoute(format: "csv" | "excel") {
  const what = format === "csv"
    ? "CSV (UTF-8 with or without BOM, comma or semicolon, quoted fields, CRLF)"
    : "an Excel workbook (.xlsx, or .xls); the sheet with the mapping headers is read";
  return secureRoute({
    method: "post",
    path: `/mappings/import/${format}`,
    roles: WRITE,
    tags: TAGS,
    summary: `Import mappings from ${format === "csv" ? "CSV" : "Excel"}, all or nothing`,
    description: `Multipart field \`file\`: ${what}. Headers match without regard to case, ` +
      "spaces or order. Columns the file lacks keep their stored values.",
    request: {
      query: ImportQuery,
      body: { content: { "multipart/form-data": { schema: ImportFile } } },
    },
    responses: {
      200: {
        description: "imported (or, with dryRun, what would be)",
        content: json(ImportReportSchema),
      },
      400: { description: "no file, or a file that cannot be read (bad UTF-8, damaged workbook)" },
      ...auth,
      409: { description: "a concurrent change got in the way; nothing was changed" },
      413: { description: "larger than mappings.import_max_bytes / _rows, or a zip bomb" },
      415: { description: "not a workbook (Excel), or a workbook sent as CSV" },
      422: {
        description: "problems in rows; error.details lists them",
        content: json(ErrorSchema),
      },
      429: { description: "other imports are running" },
      502: { description: "validate=dhis2 and DHIS2 could not be read" },
    },
  });
}

const importCsv = importRoute("csv");
const importExcel = importRoute("excel");

function exportRoute(path: string, summary: string, type: string) {
  return secureRoute({
    method: "get",
    path,
    roles: READ,
    tags: TAGS,
    summary,
    request: { query: FilterQuery },
    responses: {
      200: { description: "the file", content: { [type]: binary } },
      ...auth,
      422: { description: "a filter is invalid or unknown (each is named)" },
    },
  });
}

const exportCsv = exportRoute(
  "/mappings/export/csv",
  "Export mappings (filters as in the list) as CSV that re-imports unchanged",
  "text/csv",
);
const exportExcel = exportRoute(
  "/mappings/export/excel",
  "Export mappings (filters as in the list) as .xlsx that re-imports unchanged",
  XLSX_TYPE,
);
const template = secureRoute({
  method: "get",
  path: "/mappings/export/excel-template",
  roles: READ,
  tags: TAGS,
  summary: "An empty workbook with the headers and instructions",
  responses: { 200: { description: "the file", content: { [XLSX_TYPE]: binary } }, ...auth },
});

function attachment(body: Uint8Array | string, type: string, filename: string): Response {
  return new Response(body as BodyInit, {
    headers: {
      "Content-Type": type,
      "Content-Disposition": `attachment; filename="${filename}"`,
    },
  });
}

/** The file's key is taken; a unique violation says by which index. */
function keyConflict(err: unknown, m: MappingInput): unknown {
  if (pgCode(err) !== PG.uniqueViolation) return err;
  const index = (err as { constraint_name?: string }).constraint_name;
  return new AppError(
    "conflict",
    index === "dhis2_mappings_ou_key"
      ? `source org unit "${m.sourceOrgUnit}" is already mapped for source ` +
        `"${m.sourceName}", instance "${m.instanceName}"`
      : `a mapping with code "${m.code}", what "${m.what}", source "${m.sourceName}" and ` +
        `instance "${m.instanceName}" exists already`,
  );
}

function checked(input: unknown): MappingInput {
  const r = mappingInputSchema.safeParse(input);
  if (r.success) return r.data;
  const problems = zodProblems(r.error);
  throw new AppError(
    "validation_failed",
    `invalid mapping: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`,
    { details: problems },
  );
}

export function mappingRoutes(deps: MappingRoutesDeps) {
  const { sql, config, log } = deps;
  const changed = () => deps.cache?.invalidate();

  /** One write in its own transaction, behind the writers' lock (see lockForWrite). */
  const write = async <T>(fn: (tx: TransactionSql) => Promise<T>) => {
    const result = await sql.begin(async (tx) => {
      await lockForWrite(tx);
      return await fn(tx);
    });
    changed();
    return result as T;
  };

  const found = (row: MappingRow | undefined, uid: string): MappingRow => {
    if (!row) throw notFound(`no mapping with uid ${uid}`);
    return row;
  };

  const importFile = async (
    c: Context<AppEnv>,
    format: ImportFormat,
    q: typeof ImportQuery._output,
    form: { file?: unknown } | undefined,
  ) => {
    const file = form?.file;
    if (!(file instanceof File)) {
      throw new AppError(
        "bad_request",
        "No file is received: send it as multipart/form-data in the field `file`",
      );
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    const validate = q.validate === "dhis2";
    // No DHIS2 at all: the 400 naming the missing URL, before anything is read.
    if (validate && !deps.dhis2 && !Object.values(destinationsOf(config)).some((d) => d.base_url)) {
      metadataClientFromConfig(config);
    }
    const report = await heavyWork.run(() =>
      importMappings(sql, bytes, {
        format,
        mode: q.mode,
        dryRun: q.dryRun ?? false,
        limits: {
          maxBytes: config.mappings.import_max_bytes,
          maxRows: config.mappings.import_max_rows,
        },
        // Each row against the DHIS2 of every destination using its instance_name.
        checkAgainstDhis2: validate ? checkAgainstDestinations(config, deps.dhis2) : undefined,
        onChange: changed,
        log,
        destinations: destinationNames(config),
      })
    );
    return c.json(report, 200);
  };

  return newRouter()
    .openapi(list, async (c) => {
      const { filter, paging } = parseMappingQuery(c.req.query(), true);
      const { rows, total } = await listMappings(sql, filter, {
        limit: paging.pageSize,
        offset: (paging.page - 1) * paging.pageSize,
      });
      return c.json(pageOf(rows.map(toMapping), total, paging), 200);
    })
    .openapi(create, async (c) => {
      const m = checked(c.req.valid("json"));
      const row = await write((tx) => insertMapping(tx, generateUid(), m))
        .catch((err) => {
          throw keyConflict(err, m);
        });
      return c.json(toMapping(row), 201);
    })
    .openapi(exportCsv, async (c) => {
      const rows = await exportMappings(sql, parseMappingQuery(c.req.query(), false).filter);
      const bytes = await heavyWork.run(() => exportInWorker("csv", rows.map(toInput), log));
      return attachment(bytes, "text/csv; charset=utf-8", "dhis2_mappings.csv");
    })
    .openapi(exportExcel, async (c) => {
      const rows = await exportMappings(sql, parseMappingQuery(c.req.query(), false).filter);
      const bytes = await heavyWork.run(() => exportInWorker("xlsx", rows.map(toInput), log));
      return attachment(bytes, XLSX_TYPE, "dhis2_mappings.xlsx");
    })
    .openapi(template, () => attachment(templateXlsx(), XLSX_TYPE, "dhis2_mappings_template.xlsx"))
    .openapi(importCsv, (c) => importFile(c, "csv", c.req.valid("query"), c.req.valid("form")))
    .openapi(
      importExcel,
      (c) => importFile(c, "xlsx", c.req.valid("query"), c.req.valid("form")),
    )
    .openapi(getOne, async (c) => {
      const { uid } = c.req.valid("param");
      return c.json(toMapping(found(await mappingByUid(sql, uid), uid)), 200);
    })
    .openapi(update, async (c) => {
      const { uid } = c.req.valid("param");
      // Partial: fields the body leaves out keep their stored values.
      const given = Object.fromEntries(
        Object.entries(c.req.valid("json")).filter(([, v]) => v !== undefined),
      );
      let m: MappingInput | undefined;
      // Read under the writers' lock, so a concurrent change is not overwritten with old values.
      const row = await write(async (tx) => {
        const stored = found(await mappingByUid(tx, uid), uid);
        const before = toInput(stored);
        const after = m = checked({ ...before, ...given });
        // Nothing to write: no version bump, so no replica reloads for it.
        const same = MAPPING_COLUMNS.every((col) => after[col.field] === before[col.field]);
        return same ? stored : await updateMapping(tx, uid, after);
      }).catch((err) => {
        throw m ? keyConflict(err, m) : err;
      });
      return c.json(toMapping(found(row, uid)), 200);
    })
    .openapi(remove, async (c) => {
      const { uid } = c.req.valid("param");
      const row = await write((tx) => deleteMapping(tx, uid));
      return c.json(toMapping(found(row, uid)), 200);
    });
}
