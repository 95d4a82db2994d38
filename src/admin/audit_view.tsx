/**
 * Audit: who did what to submissions, mappings, users and tokens, with counts per action for
 * the filter and a CSV export, over GET /api/v3/audit. Admins only (the API refuses others).
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { AUDIT_FILTER_KEYS } from "../audit/routes.ts";
import type { AppEnv } from "../http/env.ts";
import { must } from "./api.ts";
import {
  FilterField as Field,
  FilterForm,
  type Page,
  Pager,
  type Query,
  Table,
  Time,
} from "./components.tsx";
import type { FragmentContext } from "./context.ts";
import { filtersOf, pageQuery } from "./list_filters.ts";
import { Layout, Slot } from "./layout.tsx";

interface AuditItem {
  id: number;
  at: string;
  actor_username: string;
  via: string;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
  request_id: string | null;
}

export function AuditPage(props: { q: Query }) {
  const q = props.q;
  return (
    <Layout title="Audit" current="/admin/audit">
      <h1>Audit</h1>
      <p class="muted">
        Every requeue, purge and delete, every change to mappings, users and API tokens: who, when,
        and with what filter or counts. The trail cannot be edited.
      </p>
      <FilterForm label="Filter the audit trail">
        <Field name="actor" label="Who" q={q} placeholder="username" />
        <Field
          name="action"
          label="Action"
          q={q}
          placeholder="e.g. submissions.purge or mapping."
        />
        <Field name="target" label="Target" q={q} placeholder="id, uid or username" />
        <Field name="from" label="From (day)" type="date" q={q} />
        <Field name="to" label="To (day)" type="date" q={q} />
      </FilterForm>
      <p data-admin-only>
        <button type="button" data-download="/admin/f/download/audit/export.csv" data-with-filters>
          Export as CSV
        </button>{" "}
        <span class="muted">(follows the filters)</span>
      </p>
      <Slot src="/admin/f/audit/list" query label="Audit entries" />
    </Layout>
  );
}

export function auditFragments(ctx: FragmentContext): Hono<AppEnv> {
  return new Hono<AppEnv>().get("/list", (c) => auditList(ctx, c));
}

async function auditList(ctx: FragmentContext, c: Context<AppEnv>) {
  if (!ctx.isAdmin(c)) return c.html(<p class="muted">The audit trail is for admins.</p>);
  const filters = filtersOf(c.req.url, AUDIT_FILTER_KEYS);
  const query = pageQuery(c.req.url, filters, 25);
  const list = must(
    await ctx.api(c).get<Page<AuditItem> & { by_action: Record<string, number> }>(
      "/audit",
      query,
    ),
  );
  const tz = ctx.config.server.timezone;
  const actionLink = (action: string) => {
    const q = new URLSearchParams(filters);
    q.set("action", action);
    return `?${q}`;
  };
  return c.html(
    <div>
      <p aria-label="Counts per action">
        {Object.entries(list.by_action).map(([action, n]) => (
          <>
            <a href={actionLink(action)} data-nav>{action}</a> {n}
            {"  "}
          </>
        ))}
      </p>
      <Table
        caption={`${list.total} entries match`}
        columns={["Time", "Who", "Action", "Target", "Filter and counts"]}
        rows={list.items}
        empty={{ text: "Nothing recorded for these filters.", span: 5 }}
        row={(r) => (
          <tr>
            <td>
              <Time value={r.at} tz={tz} />
            </td>
            <td>
              {r.actor_username}
              {r.via !== "api" && <span class="muted">({r.via})</span>}
            </td>
            <td>
              <code>{r.action}</code>
            </td>
            <td>{r.target ?? "—"}</td>
            <td>
              <code>{JSON.stringify(r.details)}</code>
            </td>
          </tr>
        )}
      />
      <Pager
        page={list.page}
        totalPages={list.total_pages}
        total={list.total}
        query={filters}
        noun="entries"
      />
    </div>,
  );
}
