/**
 * The old service's mapping routes (old-go-service.md §1.3, §4) over /api/v3/mappings:
 * the list as a bare array of every row, and the import reply `{total, records}`.
 *
 * Old exports wrote the category option combo with Go's `fmt.Sprint` of a pointer, so their
 * `category_option_combo` cells hold `<nil>` or an address such as `0xc000123456`. Re-imported
 * here, those cells count as empty (DHIS2's default combo) and the reply lists each one in
 * `cleaned`; /api/v3 refuses them as it refuses any other non-UID.
 */
import type { Context } from "hono";
import { stringify } from "csv-stringify/sync";
import type { Config } from "../config/config.ts";
import type { AppEnv } from "../http/env.ts";
import { AppError } from "../http/errors.ts";
import type { Logger } from "../logs/logger.ts";
import { escapeCsvCell } from "../mappings/csv.ts";
import type { ParsedRow } from "../mappings/formats.ts";
import type { Mapping, MappingField } from "../mappings/model.ts";
import { MAPPING_COLUMNS } from "../mappings/model.ts";
import { parseInWorker } from "../mappings/offload.ts";
import { type ImportFormat, parseFile } from "../mappings/read_file.ts";
import { type AppFetch, callV3, jsonOf } from "./forward.ts";

/** The largest page of /api/v3/mappings. */
const PAGE = 1000;
/** Filters of /api/v3/mappings the old query also had; the rest of the old query is ignored. */
const FILTERS = [
  "code",
  "what",
  "name",
  "dataSet",
  "dataElement",
  "categoryOptionCombo",
  "categoryOption",
  "categoryCombo",
  "source",
  "instance_name",
  "source_orgunit",
  "destination_orgunit",
  "uid",
];
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;
/**
 * Files up to this size are read on the main thread, which costs less than starting a worker.
 * Measured here under load: a 6.6 KB workbook (10 rows) 12 ms, a 13 KB CSV (200 rows) 1.6 ms;
 * a 12.6 KB workbook (200 rows) already 81 ms.
 */
const SMALL_FILE = { csv: 16 * 1024, xlsx: 8 * 1024 };
/** What Go's fmt.Sprint made of a *string: nil, or the pointer's address. */
const GO_POINTER = /^\s*(<nil>|0xc[0-9a-f]{5,14})\s*$/i;

/**
 * Go's `models.Dhis2Mapping` JSON: the category option combo a *string (null when unset),
 * `dimensionType` the old column's default. The old integer `id` is not served (uids are).
 */
function oldMapping(m: Partial<Mapping>) {
  return {
    ...(m.uid !== undefined ? { uid: m.uid } : {}),
    code: m.code ?? "",
    what: m.what ?? "",
    name: m.name ?? "",
    description: m.description ?? "",
    dataSet: m.dataSet ?? "",
    dataElement: m.dataElement ?? "",
    categoryOptionCombo: m.categoryOptionCombo ? m.categoryOptionCombo : null,
    attributeOptionCombo: m.attributeOptionCombo ?? "",
    categoryOption: m.categoryOption ?? "",
    categoryCombo: m.categoryCombo ?? "",
    instanceName: m.instanceName ?? "",
    sourceName: m.sourceName ?? "",
    sourceOrgUnit: m.sourceOrgUnit ?? "",
    destinationOrgUnit: m.destinationOrgUnit ?? "",
    dimensionType: "none",
    ...(m.created !== undefined ? { created: m.created, updated: m.updated } : {}),
  };
}

/** GET /api/v2/mappings: every row (all pages), as a bare array. */
export async function oldMappingList(c: Context<AppEnv>, fetcher: AppFetch) {
  for (const key of ["created", "updated"]) {
    const v = c.req.query(key);
    if (v !== undefined && !RFC3339.test(v)) {
      throw new AppError("bad_request", `Invalid ${key} date format`);
    }
  }
  const query = new URLSearchParams();
  for (const key of FILTERS) {
    const v = c.req.query(key);
    if (v) query.set(key, v);
  }
  const out: ReturnType<typeof oldMapping>[] = [];
  for (let page = 1;; page++) {
    query.set("page", String(page));
    query.set("page_size", String(PAGE));
    const res = await callV3(c, fetcher, { method: "GET", path: "/mappings", query });
    if (!res.ok) return res;
    const body = await jsonOf<{ items: Mapping[]; total_pages: number }>(res);
    out.push(...body.items.map(oldMapping));
    if (page >= body.total_pages) break;
  }
  return c.json(out);
}

const headerOf = (field: MappingField) => MAPPING_COLUMNS.find((c) => c.field === field)!.header;

/** The file again as CSV with the same columns, for a file whose cells were cleaned. */
function rebuiltCsv(rows: ParsedRow[]): Uint8Array {
  const fields = Object.keys(rows[0].fields) as MappingField[];
  const table = [
    fields.map(headerOf),
    ...rows.map((r) => fields.map((f) => escapeCsvCell(r.fields[f] ?? ""))),
  ];
  return new TextEncoder().encode(stringify(table, { record_delimiter: "\r\n" }));
}

/** POST /api/v2/mappings/import/{csv,excel}: the v3 report plus `total`, `records`, `cleaned`. */
export async function oldMappingImport(
  c: Context<AppEnv>,
  fetcher: AppFetch,
  deps: { config: Readonly<Config>; log?: Logger },
  format: ImportFormat,
) {
  const path = `/mappings/import/${format === "csv" ? "csv" : "excel"}`;
  // v3's answer to an upload without a file: its role check (401/403) before any work here.
  const probe = await callV3(c, fetcher, { method: "POST", path, body: new FormData() });
  if (probe.status === 401 || probe.status === 403) return probe;
  const form = await c.req.formData().catch(() => null);
  const file = form?.get("file");
  if (!(file instanceof File)) throw new AppError("bad_request", "No file is received");
  const bytes = new Uint8Array(await file.arrayBuffer());
  const { import_max_bytes: maxBytes, import_max_rows: maxRows } = deps.config.mappings;
  const limits = { maxBytes, maxRows };
  // A worker costs more to start than a small file costs to read here.
  const parsed = bytes.byteLength <= SMALL_FILE[format]
    ? parseFile(format, bytes, limits)
    : await parseInWorker(format, bytes, limits, deps.log);

  const cleaned: { row: number; column: string; value: string }[] = [];
  const rows = parsed.rows.map((r) => {
    const coc = r.fields.categoryOptionCombo;
    if (coc === undefined || !GO_POINTER.test(coc)) return r;
    cleaned.push({ row: r.row, column: "category_option_combo", value: coc });
    return { row: r.row, fields: { ...r.fields, categoryOptionCombo: "" } };
  });
  const rebuilt = cleaned.length > 0 && parsed.problems.length === 0;

  const query = new URLSearchParams();
  for (const key of ["dryRun", "mode", "validate"]) {
    const v = c.req.query(key);
    if (v) query.set(key, v);
  }
  const upload = new FormData();
  upload.set(
    "file",
    rebuilt
      ? new File([rebuiltCsv(rows) as BlobPart], "cleaned.csv", { type: "text/csv" })
      : new File([bytes as BlobPart], file.name, { type: file.type }),
  );
  const res = await callV3(c, fetcher, {
    method: "POST",
    path: `/mappings/import/${rebuilt || format === "csv" ? "csv" : "excel"}`,
    query,
    body: upload,
  });
  if (!res.ok) return rebuilt ? await withFileRows(res, rows) : res;
  const report = await jsonOf<Record<string, unknown>>(res);
  return c.json({
    total: parsed.rows.length,
    records: rows.map((r) => oldMapping(r.fields as Partial<Mapping>)),
    cleaned,
    ...report,
  });
}

/** Problems in the rebuilt CSV name its rows (2, 3, …): give them the uploaded file's rows. */
async function withFileRows(res: Response, rows: ParsedRow[]): Promise<Response> {
  const body = await res.json().catch(() => null);
  const details = body?.error?.details;
  if (Array.isArray(details)) {
    for (const d of details) {
      if (typeof d?.row === "number" && rows[d.row - 2]) d.row = rows[d.row - 2].row;
    }
  }
  const headers = new Headers(res.headers);
  headers.delete("content-length");
  return new Response(JSON.stringify(body), { status: res.status, headers });
}
