/**
 * Mappings: the filtered list, export and template downloads, and import with a dry run shown
 * before anything changes (fragments under /admin/f/mappings), over /api/v2/mappings.
 */
import { Hono } from "hono";
import type { AppEnv } from "../http/env.ts";
import { type ApiErrorBody, must } from "./api.ts";
import { ErrorAlert, type Page, Pager, Report, Time } from "./components.tsx";
import type { FragmentContext } from "./fragments.ts";

interface Mapping {
  uid: string;
  code: string;
  what: string;
  name: string;
  dataSet: string;
  dataElement: string;
  categoryOptionCombo: string;
  attributeOptionCombo: string;
  sourceName: string;
  instanceName: string;
  sourceOrgUnit: string;
  destinationOrgUnit: string;
  updated: string;
}

interface Problem {
  row: number;
  column: string;
  value: string;
  message: string;
}

export interface ImportReport {
  dryRun?: boolean;
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
  problems?: Problem[];
}

const FILTERS = ["code", "what", "name", "dataSet", "dataElement", "source", "instance_name"];

export function mappingFragments(ctx: FragmentContext): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const tz = ctx.config.server.timezone;

  r.get("/tools", (c) => {
    const admin = ctx.isAdmin(c);
    return c.html(
      <div class="card">
        <div class="toolbar">
          <strong>Download</strong>
          <span class="muted">(exports follow the filters below)</span>
          <button type="button" data-download="/api/v2/mappings/export/csv" data-with-filters>
            Export CSV
          </button>
          <button type="button" data-download="/api/v2/mappings/export/excel" data-with-filters>
            Export Excel
          </button>
          <button type="button" data-download="/api/v2/mappings/export/excel-template">
            Excel template
          </button>
        </div>
        {admin && (
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
              The check changes nothing; it shows what the import would do, and an Apply button if
              the file has no problems.
            </p>
          </form>
        )}
        <div id="import-report" tabindex={-1}></div>
      </div>,
    );
  });

  r.get("/list", async (c) => {
    const from = new URL(c.req.url).searchParams;
    const q = new URLSearchParams();
    for (const k of FILTERS) {
      const v = from.get(k)?.trim();
      if (v) q.set(k, v);
    }
    const query = new URLSearchParams(q);
    query.set("page", from.get("page") ?? "1");
    query.set("page_size", "50");
    const page = must(await ctx.api(c).get<Page<Mapping>>("/mappings", query));
    return c.html(
      <div>
        <table>
          <caption class="muted">Mappings ({page.total})</caption>
          <thead>
            <tr>
              <th scope="col">Code</th>
              <th scope="col">Kind</th>
              <th scope="col">Name</th>
              <th scope="col">Data set</th>
              <th scope="col">Data element · COC</th>
              <th scope="col">AOC</th>
              <th scope="col">Org unit (source → DHIS2)</th>
              <th scope="col">Source · instance</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {page.items.length === 0 && (
              <tr>
                <td colspan={9} class="muted">No mappings match these filters.</td>
              </tr>
            )}
            {page.items.map((m) => (
              <tr>
                <td class="mono">{m.code}</td>
                <td>{m.what}</td>
                <td class="wrap">{m.name || "–"}</td>
                <td class="mono">{m.dataSet || "–"}</td>
                <td class="mono">
                  {m.dataElement || "–"}
                  {m.categoryOptionCombo ? ` · ${m.categoryOptionCombo}` : ""}
                </td>
                <td class="mono">{m.attributeOptionCombo || "–"}</td>
                <td class="mono">
                  {m.sourceOrgUnit || m.destinationOrgUnit
                    ? `${m.sourceOrgUnit || "?"} → ${m.destinationOrgUnit || "?"}`
                    : "–"}
                </td>
                <td>{m.sourceName} · {m.instanceName}</td>
                <td class="nowrap">
                  <Time value={m.updated} tz={tz} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager
          page={page.page}
          totalPages={page.total_pages}
          total={page.total}
          query={q}
          noun="mappings"
        />
      </div>,
    );
  });

  r.post("/import", async (c) => {
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
  });

  return r;
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
        <table>
          <thead>
            <tr>
              <th scope="col" class="num">Row</th>
              <th scope="col">Column</th>
              <th scope="col">Value</th>
              <th scope="col">Problem</th>
            </tr>
          </thead>
          <tbody>
            {problems.slice(0, 200).map((p) => (
              <tr>
                <td class="num">{p.row}</td>
                <td class="mono">{p.column || "–"}</td>
                <td class="mono">{p.value || "–"}</td>
                <td>{p.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
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
