/**
 * Mappings: the filtered list, export and template downloads, and import with a dry run shown
 * before anything changes (fragments under /admin/f/mappings), over /api/v3/mappings.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/env.ts";
import type {
  FilterQuery,
  ImportReportSchema,
  MappingSchema,
  ProblemSchema,
} from "../mappings/schemas.ts";
import { type ApiErrorBody, must } from "./api.ts";
import { ErrorAlert, Named, num, type Page, Pager, Report, Table, Time } from "./components.tsx";
import type { MetadataNames } from "./metadata_names.ts";
import type { FragmentContext } from "./context.ts";
import { filtersOf, pageQuery } from "./list_filters.ts";

type Mapping = z.infer<typeof MappingSchema>;
type C = Context<AppEnv>;

type Problem = z.infer<typeof ProblemSchema>;
/** The counts of an import; `problems` set when the API refused the file for them. */
type ImportReport =
  & Pick<z.infer<typeof ImportReportSchema>, "created" | "updated" | "unchanged" | "deleted">
  & { problems?: Problem[] };

/** The filters the Mappings page offers: some of GET /api/v3/mappings's (FilterQuery). */
const FILTERS = [
  "code",
  "what",
  "name",
  "dataSet",
  "dataElement",
  "source",
  "instance_name",
] as const satisfies readonly (keyof z.infer<typeof FilterQuery>)[];

export function mappingFragments(ctx: FragmentContext): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get("/tools", (c) => c.html(<MappingTools admin={ctx.isAdmin(c)} />))
    .get("/list", (c) => mappingList(ctx, c))
    .post("/import", (c) => importMappings(ctx, c));
}

/** Downloads for everyone; for an admin, the import form whose first step is a dry run. */
function MappingTools(props: { admin: boolean }) {
  return (
    <div class="card">
      <div class="toolbar">
        <strong>Download</strong>
        <span class="muted">(exports follow the filters below)</span>
        <button
          type="button"
          data-download="/admin/f/download/mappings/export/csv"
          data-with-filters
        >
          Export CSV
        </button>
        <button
          type="button"
          data-download="/admin/f/download/mappings/export/excel"
          data-with-filters
        >
          Export Excel
        </button>
        <button type="button" data-download="/admin/f/download/mappings/export/excel-template">
          Excel template
        </button>
      </div>
      {props.admin && <ImportForm />}
      <div id="import-report" tabindex={-1}></div>
    </div>
  );
}

function ImportForm() {
  return (
    <form
      id="import-form"
      data-action="/admin/f/mappings/import"
      data-keep
      data-target="#import-report"
    >
      <h2>Import a CSV or Excel file</h2>
      <div class="grid">
        <div class="field wide">
          <label for="m-file">File (.csv, .xlsx, .xls)</label>
          <input
            id="m-file"
            type="file"
            name="file"
            required
            accept=".csv,.xlsx,.xls,text/csv"
          />
        </div>
        <div class="field wide">
          <label for="m-mode">Mode</label>
          <select id="m-mode" name="mode">
            <option value="upsert">upsert: add new rows, update changed ones</option>
            <option value="replace">
              replace: the file becomes the whole set for its source and instance
            </option>
          </select>
        </div>
        <div class="field">
          <span class="label">DHIS2</span>
          <label class="check">
            <input type="checkbox" name="validate" value="dhis2" />{" "}
            also check against DHIS2's metadata
          </label>
        </div>
        <div class="buttons">
          <button type="submit" class="primary" name="dryRun" value="true" data-after="none">
            Check file (dry run)
          </button>
        </div>
      </div>
      <p class="muted">
        The check changes nothing; it shows what the import would do, and an Apply button if the
        file has no problems.
      </p>
    </form>
  );
}

async function mappingList(ctx: FragmentContext, c: C) {
  const q = filtersOf(c.req.url, FILTERS);
  const names = ctx.names;
  // A data set's or data element's name or code where the API takes a UID.
  await names.load({ dataSets: [ctx.config.api.dhis2_data_set] });
  for (const [key, kind] of [["dataSet", "dataSet"], ["dataElement", "dataElement"]] as const) {
    const typed = q.get(key);
    if (typed) q.set(key, names.resolveCached(kind, typed));
  }
  const query = pageQuery(c.req.url, q, 50);
  const page = must(await ctx.api(c).get<Page<Mapping>>("/mappings", query));
  await names.load({
    dataSets: page.items.map((m) => m.dataSet).filter(Boolean),
    orgUnits: page.items.map((m) => m.destinationOrgUnit).filter(Boolean),
  });
  return c.html(
    <div>
      {ctx.isAdmin(c) && (
        <p>
          <a class="button" href="/admin/mappings/new">New mapping</a>
        </p>
      )}
      <MappingTable
        mappings={page}
        tz={ctx.config.server.timezone}
        admin={ctx.isAdmin(c)}
        names={names}
      />
      <Pager
        page={page.page}
        totalPages={page.total_pages}
        total={page.total}
        query={q}
        noun="mappings"
      />
    </div>,
  );
}

function MappingTable(
  props: { mappings: Page<Mapping>; tz: string; admin: boolean; names: MetadataNames },
) {
  const { names } = props;
  return (
    <Table
      caption={`Mappings (${props.mappings.total})`}
      columns={[
        "Code",
        "Kind",
        "Name",
        "Data set",
        "Data element · COC",
        "AOC",
        "Org unit (source → DHIS2)",
        "Source · instance",
        "Updated",
      ]}
      rows={props.mappings.items}
      empty={{ text: "No mappings match these filters.", span: 9 }}
      row={(m) => (
        <tr>
          <td class="mono">
            {props.admin
              ? <a href={`/admin/mappings/${m.uid}`} aria-label={`Edit ${m.code}`}>{m.code}</a>
              : m.code}
          </td>
          <td>{m.what}</td>
          <td class="wrap">{m.name || "–"}</td>
          <td>
            <Named name={names.name("dataSet", m.dataSet)} uid={m.dataSet} />
          </td>
          <td>
            <Named name={names.name("dataElement", m.dataElement)} uid={m.dataElement} />
            {m.categoryOptionCombo && <span class="mono muted">{m.categoryOptionCombo}</span>}
          </td>
          <td class="mono">{m.attributeOptionCombo || "–"}</td>
          <td class="mono">
            {m.sourceOrgUnit || m.destinationOrgUnit
              ? `${m.sourceOrgUnit || "?"} → ${m.destinationOrgUnit || "?"}`
              : "–"}
          </td>
          <td>{m.sourceName} · {m.instanceName}</td>
          <td class="nowrap">
            <Time value={m.updated} tz={props.tz} />
          </td>
        </tr>
      )}
    />
  );
}

/** A dry run (the default) or the real import; either way the result is shown as a report. */
async function importMappings(ctx: FragmentContext, c: C) {
  const form = await c.req.formData();
  const file = form.get("file");
  if (!(file instanceof File) || file.size === 0) {
    return c.html(<Report kind="warn">Choose a file to import first.</Report>, 422);
  }
  const dryRun = form.get("dryRun") !== "false";
  const mode = form.get("mode") === "replace" ? "replace" : "upsert";
  const kind = /\.csv$/i.test(file.name) ? "csv" : "excel";
  const upload = new FormData();
  upload.set("file", file, file.name);
  const q = new URLSearchParams({ dryRun: String(dryRun), mode });
  if (form.get("validate") === "dhis2") q.set("validate", "dhis2");
  const res = await ctx.api(c).send<ImportReport>(
    "POST",
    `/mappings/import/${kind}?${q}`,
    upload,
  );
  const report = res.ok ? res.data : problemsReport(res.error);
  if (!res.ok && !report) {
    return c.html(<ErrorAlert title="Import refused" {...res} />, res.status as 400);
  }
  return c.html(
    <ImportResult report={report!} dryRun={dryRun} mode={mode} file={file.name} />,
    res.ok ? 200 : res.status as 400,
  );
}

/** A refused import whose envelope lists row problems is still a report to show. */
function problemsReport(error: ApiErrorBody): ImportReport | null {
  const d = error.details as { problems?: Problem[] } | Problem[] | undefined;
  const problems = Array.isArray(d) ? d : d?.problems;
  if (!problems?.length || typeof problems[0]?.row !== "number") return null;
  return { created: 0, updated: 0, unchanged: 0, deleted: 0, problems };
}

function ImportResult(
  props: { report: ImportReport; dryRun: boolean; mode: string; file: string },
) {
  const { report, dryRun } = props;
  const problems = report.problems ?? [];
  const summary =
    `${report.created} to create, ${report.updated} to update, ${report.unchanged} unchanged, ${report.deleted} to delete`;
  if (problems.length) {
    return (
      <Report kind="error">
        <strong>
          {props.file}: {problems.length}{" "}
          problem{problems.length === 1 ? "" : "s"}; nothing was changed.
        </strong>
        <Table
          columns={[num("Row"), "Column", "Value", "Problem"]}
          rows={problems.slice(0, 200)}
          row={(p) => (
            <tr>
              <td class="num">{p.row}</td>
              <td class="mono">{p.column || "–"}</td>
              <td class="mono">{p.value || "–"}</td>
              <td>{p.message}</td>
            </tr>
          )}
        />
        {problems.length > 200 && <p>…and {problems.length - 200} more.</p>}
      </Report>
    );
  }
  if (dryRun) {
    return (
      <Report kind="ok">
        <p data-dry-run-summary>
          <strong>Dry run of {props.file} ({props.mode}):</strong>{" "}
          {summary}. Nothing was changed yet.
        </p>
        <button
          type="submit"
          form="import-form"
          class="primary"
          name="dryRun"
          value="false"
          data-action="/admin/f/mappings/import"
          data-target="#import-report"
          data-confirm={`Apply ${props.file} (${props.mode}): ${summary}?`}
        >
          Apply this import
        </button>
      </Report>
    );
  }
  return (
    <Report kind="ok">
      <strong>Imported {props.file} ({props.mode}):</strong> {report.created} created,{" "}
      {report.updated} updated, {report.unchanged} unchanged, {report.deleted} deleted.
    </Report>
  );
}
