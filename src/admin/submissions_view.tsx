/**
 * Submissions: counts, the filtered list and every write action (fragments under
 * /admin/f/submissions), over /api/v3/logs and /api/v3/status/submissions.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/env.ts";
import { STATUSES } from "../queue/queries.ts";
import { FILTER_KEYS, OLD_FILTER_KEYS } from "../submissions/filters.ts";
import type { SubmissionSummarySchema } from "../submissions/logs_schemas.ts";
import { must } from "./api.ts";
import {
  ActionButton,
  ErrorAlert,
  Named,
  num,
  type Page,
  Pager,
  Report,
  StatusBadge,
  Table,
  Time,
} from "./components.tsx";
import type { FragmentContext } from "./context.ts";
import { filtersOf, pageQuery } from "./list_filters.ts";
import type { MetadataNames } from "./metadata_names.ts";

type C = Context<AppEnv>;

/** A submission as GET /api/v3/logs lists it. */
export type Summary = z.infer<typeof SubmissionSummarySchema>;

interface RequeueCounts {
  matched: number;
  requeued: number;
  running: number;
  already_queued: number;
}

/** The list's filters: GET /api/v3/logs's, under their current names. */
export const FILTERS = FILTER_KEYS.filter((k) => !OLD_FILTER_KEYS.includes(k));

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function RequeueReport(props: { counts: RequeueCounts }) {
  const c = props.counts;
  const notes = [
    c.already_queued ? `${plural(c.already_queued, "was", "were")} already queued` : "",
    c.running ? `${plural(c.running, "is", "are")} being delivered right now and kept` : "",
  ].filter(Boolean);
  return (
    <Report kind={c.requeued || !c.matched ? "ok" : "warn"}>
      Requeued {plural(c.requeued, "submission")} of {c.matched} matched
      {notes.length ? `; ${notes.join("; ")}` : ""}. The worker delivers them now.
    </Report>
  );
}

export function submissionFragments(ctx: FragmentContext): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get("/list", (c) => submissionList(ctx, c))
    .get("/maintenance", (c) => c.html(ctx.isAdmin(c) ? <PurgeForm /> : ""))
    .post("/requeue", (c) => requeueSelected(ctx, c))
    .post("/requeue-matching", (c) => requeueMatching(ctx, c))
    .post("/purge", (c) => purge(ctx, c));
}

/** The counts per status for the filters, then the page of submissions they match. */
async function submissionList(ctx: FragmentContext, c: C) {
  const api = ctx.api(c);
  const filters = filtersOf(c.req.url, FILTERS);
  // A name or code typed for the org unit or data set: the API takes UIDs.
  await ctx.names.load({ dataSets: [ctx.config.api.dhis2_data_set] });
  for (const [key, kind] of [["orgUnit", "orgUnit"], ["dataSet", "dataSet"]] as const) {
    const typed = filters.get(key);
    if (typed) filters.set(key, await ctx.names.resolve(kind, typed));
  }
  const query = pageQuery(c.req.url, filters, 25);
  const counting = new URLSearchParams(filters);
  counting.delete("status");
  counting.delete("submission_id");
  const [page, counts] = await Promise.all([
    api.get<Page<Summary>>("/logs", query),
    api.get<StatusCounts>("/status/submissions", counting),
  ]);
  const list = must(page);
  const tz = ctx.config.server.timezone;
  await ctx.names.load({
    orgUnits: list.items.map((i) => i.org_unit),
    dataSets: list.items.map((i) => i.data_set),
  });
  const names = ctx.names;
  return c.html(
    <div>
      {counts.ok && <CountsByStatus counts={counts.data} filters={filters} />}
      <div class="toolbar">
        <button type="button" data-download="/admin/f/download/logs/export/csv" data-with-filters>
          Export CSV
        </button>
        <span class="muted">(every submission matching the filters)</span>
      </div>
      {ctx.isAdmin(c)
        ? <Selection list={list} filters={filters} tz={tz} names={names} />
        : <SubmissionTable items={list.items} admin={false} tz={tz} names={names} />}
      <Pager
        page={list.page}
        totalPages={list.total_pages}
        total={list.total}
        query={filters}
        noun="submissions"
      />
    </div>,
  );
}

interface StatusCounts {
  byStatus: Record<string, number>;
  total: number;
}

/** One link per status, with its count, that narrows the list to it (and back to all). */
function CountsByStatus(props: { counts: StatusCounts; filters: URLSearchParams }) {
  const { counts, filters } = props;
  const current = filters.get("status") ?? "";
  const statusLink = (s: string) => {
    const q = new URLSearchParams(filters);
    q.delete("page");
    if (s) q.set("status", s);
    else q.delete("status");
    return `?${q}`;
  };
  return (
    <ul class="counts" aria-label="Counts by status for these filters">
      <li>
        <a href={statusLink("")} data-nav aria-current={current === "" ? "true" : undefined}>
          all <strong>{counts.total}</strong>
        </a>
      </li>
      {STATUSES.map((s) => (
        <li>
          <a
            href={statusLink(s)}
            data-nav
            data-count={s}
            aria-current={current === s ? "true" : undefined}
          >
            {s} <strong>{counts.byStatus[s] ?? 0}</strong>
          </a>
        </li>
      ))}
    </ul>
  );
}

/** An admin's list: the table with checkboxes, and the requeue buttons over it. */
function Selection(
  props: { list: Page<Summary>; filters: URLSearchParams; tz: string; names: MetadataNames },
) {
  const { list, filters } = props;
  return (
    <form id="selection" data-action="/admin/f/submissions/requeue">
      <div class="toolbar">
        <button
          type="submit"
          data-action="/admin/f/submissions/requeue"
          data-confirm="Requeue the {count} selected submission(s)? They are delivered to DHIS2 again."
        >
          Requeue selected
        </button>
        <button
          type="button"
          data-action="/admin/f/submissions/requeue-matching"
          data-with-filters
          disabled={list.total === 0 || filters.size === 0}
          title={filters.size === 0 ? "Set a filter first" : undefined}
          data-confirm={`Requeue all ${list.total} submissions matching the current filters? Delivered ones are sent to DHIS2 again.`}
        >
          Requeue all {list.total} matching
        </button>
        <span class="spacer"></span>
        <span class="muted">Running submissions are never requeued or deleted.</span>
      </div>
      <SubmissionTable items={list.items} admin tz={props.tz} names={props.names} />
    </form>
  );
}

const purgeOption = (status: string) => <option value={status}>{status} only</option>;

function PurgeForm() {
  return (
    <form
      class="card"
      data-action="/admin/f/submissions/purge"
      data-confirm="Delete the {status|finished} submissions created before {date}, with their attempts? This cannot be undone."
    >
      <h2>Purge old submissions</h2>
      <div class="grid">
        <div class="field">
          <label for="p-date">Created before (day)</label>
          <input id="p-date" type="date" name="date" required />
        </div>
        <div class="field">
          <label for="p-status">Which</label>
          <select id="p-status" name="status">
            <option value="">every finished one</option>
            {STATUSES.filter((s) => s !== "running").map(purgeOption)}
          </select>
        </div>
        <div class="buttons">
          <button type="submit" class="danger">Purge…</button>
        </div>
      </div>
    </form>
  );
}

async function requeueSelected(ctx: FragmentContext, c: C) {
  const form = await c.req.parseBody({ all: true });
  const ids = ([] as unknown[]).concat(form.id ?? []).map(String).filter(Boolean);
  if (!ids.length) {
    return c.html(<Report kind="warn">Select at least one submission first.</Report>, 422);
  }
  const res = await ctx.api(c).send<RequeueCounts>("POST", "/logs/requeue", { ids });
  if (!res.ok) return c.html(<ErrorAlert title="Not requeued" {...res} />, res.status as 400);
  return c.html(<RequeueReport counts={res.data} />);
}

async function requeueMatching(ctx: FragmentContext, c: C) {
  const filters = filtersOf(c.req.url, FILTERS);
  const filter: Record<string, string[]> = {};
  for (const k of new Set(filters.keys())) filter[k] = filters.getAll(k);
  const res = await ctx.api(c).send<RequeueCounts>("POST", "/logs/requeue", { filter });
  if (!res.ok) return c.html(<ErrorAlert title="Not requeued" {...res} />, res.status as 400);
  return c.html(<RequeueReport counts={res.data} />);
}

async function purge(ctx: FragmentContext, c: C) {
  const form = await c.req.parseBody();
  const q = new URLSearchParams({ date: String(form.date ?? "") });
  if (form.status) q.set("status", String(form.status));
  const res = await ctx.api(c).send<{ deleted: number }>("DELETE", `/logs/purge?${q}`);
  if (!res.ok) return c.html(<ErrorAlert title="Nothing purged" {...res} />, res.status as 400);
  return c.html(
    <Report kind="ok">
      Purged {plural(res.data.deleted, "submission")} created before {String(form.date)}
      {form.status ? ` with status ${form.status}` : " that had finished"}.
    </Report>,
  );
}

const selectAll = <input type="checkbox" data-select-all aria-label="Select all on this page" />;

function SubmissionTable(
  props: { items: Summary[]; admin: boolean; tz: string; names: MetadataNames },
) {
  const { admin, tz, names } = props;
  return (
    <Table
      columns={[
        admin && selectAll,
        "Id",
        "Status",
        "Kind",
        "Submitted",
        "User",
        "Org unit",
        "Data set",
        "Period",
        "Destinations",
        num("Attempts"),
        "Last error",
        admin && "Actions",
      ]}
      rows={props.items}
      empty={{ text: "No submissions match these filters.", span: 13 }}
      row={(s) => <SubmissionRow s={s} admin={admin} tz={tz} names={names} />}
    />
  );
}

function SubmissionRow(
  props: { s: Summary; admin: boolean; tz: string; names: MetadataNames },
) {
  const { s, admin } = props;
  return (
    <tr data-id={s.id}>
      {admin && (
        <td>
          <input type="checkbox" name="id" value={s.id} aria-label={`Select submission ${s.id}`} />
        </td>
      )}
      <td>
        <a href={`/admin/submissions/${s.id}`}>{s.id}</a>
      </td>
      <td>
        <StatusBadge status={s.status} />
      </td>
      <td>{s.kind}</td>
      <td class="nowrap">
        <Time value={s.submitted_at} tz={props.tz} />
      </td>
      <td>{s.user}</td>
      <td>
        <Named name={props.names.name("orgUnit", s.org_unit) ?? s.org_unit_name} uid={s.org_unit} />
      </td>
      <td>
        <Named name={props.names.name("dataSet", s.data_set)} uid={s.data_set} />
      </td>
      <td class="mono">{s.period}</td>
      <td>
        <DeliveryBadges destinations={s.destinations} />
      </td>
      <td class="num">{s.attempts}</td>
      <td class="wrap">
        {s.last_error ? truncate(s.last_error, 90) : <span class="muted">–</span>}
      </td>
      {admin && (
        <td>
          <div class="buttons">
            {s.status !== "running" && s.status !== "queued" && (
              <ActionButton
                action={`/admin/f/submissions/${s.id}/requeue`}
                confirm={`Requeue submission ${s.id} (${s.status})? It is delivered to DHIS2 again.`}
              >
                Requeue
              </ActionButton>
            )}
            {s.status !== "running" && (
              <ActionButton
                action={`/admin/f/submissions/${s.id}/delete`}
                confirm={`Delete submission ${s.id} and its attempts? This cannot be undone.`}
              >
                Delete
              </ActionButton>
            )}
          </div>
        </td>
      )}
    </tr>
  );
}

/** Each delivery: its destination's name and its own status (the row's is their summary). */
function DeliveryBadges(props: { destinations: Summary["destinations"] }) {
  if (!props.destinations.length) return <span class="muted">–</span>;
  return (
    <ul class="deliveries">
      {props.destinations.map((d) => (
        <li class="nowrap" data-destination={d.destination}>
          {d.destination} <StatusBadge status={d.status} />
        </li>
      ))}
    </ul>
  );
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
