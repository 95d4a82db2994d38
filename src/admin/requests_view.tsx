/**
 * Refused requests: the request log's 4xx and 5xx (or any status, by filter) with why and
 * from whom, over GET /api/v3/requests. A partner's "we sent it" is checked by its username.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../http/env.ts";
import { REQUEST_FILTER_KEYS } from "../logs/requests_routes.ts";
import { must } from "./api.ts";
import {
  FilterField as Field,
  FilterForm,
  FilterSelect,
  num,
  type Page,
  Pager,
  type Query,
  Table,
  Time,
} from "./components.tsx";
import type { FragmentContext } from "./context.ts";
import { filtersOf, pageQuery } from "./list_filters.ts";
import { Layout, Slot } from "./layout.tsx";

interface RequestItem {
  id: number;
  at: string;
  request_id: string;
  method: string;
  path: string;
  status: number;
  username: string | null;
  identity_verified: boolean | null;
  token_prefix: string | null;
  client_ip: string | null;
  error: { code: string | null; message: string | null; fields: string[] } | null;
}

const STATUS_CHOICES = [
  ["refused", "refused (4xx and 5xx)"],
  ["401", "401 not signed in"],
  ["403", "403 not allowed"],
  ["413", "413 too large"],
  ["422", "422 invalid"],
  ["429", "429 too many"],
  ["4xx", "any 4xx"],
  ["5xx", "any 5xx"],
] as const;

export function RequestsPage(props: { q: Query }) {
  // Refused ones unless the filter says otherwise: that is what this page is for.
  const q = { ...props.q, status: props.q.status ?? "refused" };
  return (
    <Layout title="Refused requests" current="/admin/requests">
      <h1>Refused requests</h1>
      <p class="muted">
        Every API request the gateway refused, with the reason and who sent it. For a request
        refused at sign-in, the user is the one it claimed (marked “unverified”).
      </p>
      <FilterForm label="Filter requests">
        <Field name="username" label="Username" q={q} placeholder="e.g. clinic" />
        <FilterSelect name="status" label="Status" q={q} options={STATUS_CHOICES} />
        <Field name="path" label="Path starts with" q={q} placeholder="/api/v3/aggregate" />
        <Field name="from" label="From (day)" type="date" q={q} />
        <Field name="to" label="To (day)" type="date" q={q} />
      </FilterForm>
      <Slot src="/admin/f/requests/list" query label="Requests found" />
    </Layout>
  );
}

export function requestFragments(ctx: FragmentContext): Hono<AppEnv> {
  return new Hono<AppEnv>().get("/list", (c) => requestList(ctx, c));
}

async function requestList(ctx: FragmentContext, c: Context<AppEnv>) {
  // Refused ones unless the filter says otherwise, as the page's form shows.
  const filters = filtersOf(c.req.url, REQUEST_FILTER_KEYS, { status: "refused" });
  const query = pageQuery(c.req.url, filters, 25);
  const list = must(await ctx.api(c).get<Page<RequestItem>>("/requests", query));
  const tz = ctx.config.server.timezone;
  return c.html(
    <div>
      <Table
        caption={`${list.total} requests match`}
        columns={["Time", num("Status"), "Request", "User", "Reason", "From"]}
        rows={list.items}
        empty={{ text: "No request matches these filters.", span: 6 }}
        row={(r) => (
          <tr>
            <td>
              <Time value={r.at} tz={tz} />
            </td>
            <td class="num">{r.status}</td>
            <td>
              <code>{r.method} {r.path}</code>
              <div class="muted">id {r.request_id}</div>
            </td>
            <td>
              {r.username ?? (r.token_prefix ? `token ${r.token_prefix}…` : "—")}
              {r.username && r.token_prefix && <div class="muted">token {r.token_prefix}…</div>}
              {r.identity_verified === false && <div class="muted">unverified</div>}
            </td>
            <td>
              {r.error
                ? (
                  <>
                    <strong>{r.error.code ?? "—"}</strong> {r.error.message ?? ""}
                    {r.error.fields.length > 0 && (
                      <div class="muted">fields: {r.error.fields.join(", ")}</div>
                    )}
                  </>
                )
                : "—"}
            </td>
            <td>{r.client_ip ?? "—"}</td>
          </tr>
        )}
      />
      <Pager
        page={list.page}
        totalPages={list.total_pages}
        total={list.total}
        query={filters}
        noun="requests"
      />
    </div>,
  );
}
