/**
 * One submission: what was received, what was sent to DHIS2, what DHIS2 answered, its
 * conflicts named by the request codes that caused them, and every attempt. Over
 * GET /api/v3/logs/{id}; requeue and delete over the logs API.
 */
import { TrackerObjects, type TrackerView } from "./tracker_detail.tsx";
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../http/env.ts";
import { must } from "./api.ts";
import {
  Card,
  ErrorAlert,
  Json,
  Named,
  num,
  Pager,
  Report,
  StatusBadge,
  Table,
  Time,
} from "./components.tsx";
import type { FragmentContext } from "./context.ts";
import type { MetadataNames } from "./metadata_names.ts";
import type { Summary } from "./submissions_view.tsx";

type C = Context<AppEnv>;

type ImportCount = NonNullable<Summary["import_count"]>;

interface Conflict {
  errorCode?: string;
  message: string;
  object: string;
  property?: string;
  indexes?: number[];
  codes?: string[];
}

interface Attempt {
  number: number;
  worker: string;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  outcome: string;
  http_status: number | null;
  dhis2_status: string | null;
  import_count: ImportCount | null;
  conflicts: Conflict[] | null;
  error: string | null;
  credential_problem: boolean;
  batch_id?: string | null;
}

interface Detail extends Summary {
  payload: unknown;
  dhis2_payload: unknown;
  unmapped_codes: string[];
  conflicts: Conflict[] | null;
  response: unknown;
  requeued_at: string | null;
  requeued_by: string | null;
  attempts_log: Attempt[];
  tracker?: TrackerView;
}

const counts = (c: ImportCount | null) =>
  c
    ? `${c.imported} imported, ${c.updated} updated, ${c.ignored} ignored, ${c.deleted} deleted`
    : "–";

/** Mounted beside the list's fragments under /admin/f/submissions (fragments.ts). */
export function submissionDetail(ctx: FragmentContext): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get("/:id", (c) => detail(ctx, c))
    .post("/:id/requeue", (c) => requeueOne(ctx, c))
    .post("/:id/delete", (c) => deleteOne(ctx, c));
}

/** Rows per page: a submission with 5,000 conflicts must not render them all at once. */
export const CONFLICTS_PER_PAGE = 50;
export const ATTEMPTS_PER_PAGE = 20;

/** One page of `items` (1-based `page` from the query, clamped), and the pager's numbers. */
function pageOf<T>(items: readonly T[], raw: string | undefined, size: number) {
  const totalPages = Math.max(1, Math.ceil(items.length / size));
  const n = Number(raw);
  const page = Number.isInteger(n) ? Math.min(Math.max(n, 1), totalPages) : 1;
  return { rows: items.slice((page - 1) * size, page * size), page, totalPages };
}

async function detail(ctx: FragmentContext, c: C) {
  const s = must(await ctx.api(c).get<Detail>(`/logs/${encodeURIComponent(c.req.param("id")!)}`));
  const tz = ctx.config.server.timezone;
  await ctx.names.load({ orgUnits: [s.org_unit], dataSets: [s.data_set] });
  const query = new URL(c.req.url).searchParams;
  const conflicts = pageOf(s.conflicts ?? [], c.req.query("conflicts_page"), CONFLICTS_PER_PAGE);
  // Newest first: the attempt that matters is the last one.
  const attempts = pageOf(
    [...s.attempts_log].reverse(),
    c.req.query("attempts_page"),
    ATTEMPTS_PER_PAGE,
  );
  return c.html(
    <div>
      <div class="card">
        <Actions s={s} admin={ctx.isAdmin(c)} />
        <Facts s={s} tz={tz} names={ctx.names} />
      </div>
      {s.tracker ? <TrackerObjects tracker={s.tracker} /> : (
        <>
          <Card id="conflicts-h" title={`Conflicts (${s.conflicts?.length ?? 0})`}>
            <Conflicts items={conflicts.rows} />
            {conflicts.totalPages > 1 && (
              <Pager
                page={conflicts.page}
                totalPages={conflicts.totalPages}
                total={s.conflicts!.length}
                query={query}
                noun="conflicts"
                param="conflicts_page"
              />
            )}
          </Card>
          <Card id="values-h" title="Values sent">
            <Values payload={s.dhis2_payload} names={ctx.names} />
          </Card>
        </>
      )}
      <div class="two">
        <Card id="req-h" title="Request as received">
          <Json value={s.payload} label="Request as received" />
        </Card>
        <Card id="payload-h" title="Sent to DHIS2">
          <Json value={s.dhis2_payload} label="DHIS2 payload" />
        </Card>
      </div>
      <Card id="resp-h" title="Last DHIS2 response">
        {s.response === null || s.response === undefined
          ? (
            <p class="muted">
              {s.tracker && !ctx.isAdmin(c)
                ? "Shown to admins only: DHIS2's reply can quote attribute values."
                : "None kept: DHIS2 sent no JSON body, or api.save_response is off."}
            </p>
          )
          : <Json value={s.response} label="DHIS2 response" />}
      </Card>
      <Card id="attempts-h" title={`Attempts (${s.attempts_log.length})`}>
        <Attempts items={attempts.rows} tz={tz} />
        {attempts.totalPages > 1 && (
          <Pager
            page={attempts.page}
            totalPages={attempts.totalPages}
            total={s.attempts_log.length}
            query={query}
            noun="attempts"
            param="attempts_page"
          />
        )}
      </Card>
    </div>,
  );
}

/** The status, and for an admin the requeue and delete buttons a running one does not get. */
function Actions(props: { s: Detail; admin: boolean }) {
  const { s, admin } = props;
  return (
    <div class="toolbar">
      <StatusBadge status={s.status} />
      <span class="mono muted">task {s.task_id}</span>
      <span class="spacer"></span>
      {admin && s.status !== "running" && s.status !== "queued" && (
        <button
          type="button"
          class="primary"
          data-action={`/admin/f/submissions/${s.id}/requeue`}
          data-confirm={`Requeue submission ${s.id} (${s.status})? It is delivered to DHIS2 again, with a fresh retry budget.`}
        >
          Requeue
        </button>
      )}
      {admin && s.status !== "running" && (
        <button
          type="button"
          data-action={`/admin/f/submissions/${s.id}/delete`}
          data-after="go:/admin/submissions"
          data-confirm={`Delete submission ${s.id} and its attempts? This cannot be undone.`}
        >
          Delete
        </button>
      )}
    </div>
  );
}

function Facts(props: { s: Detail; tz: string; names: MetadataNames }) {
  const { s, tz } = props;
  return (
    <dl class="facts">
      <dt>Submitted</dt>
      <dd>
        <Time value={s.submitted_at} tz={tz} /> by <strong>{s.user}</strong>{" "}
        <span class="muted">(source {s.source_name})</span>
      </dd>
      <dt>Org unit</dt>
      <dd>
        <Named name={props.names.name("orgUnit", s.org_unit) ?? s.org_unit_name} uid={s.org_unit} />
      </dd>
      {s.kind === "tracker"
        ? (
          // Tracker data has no data set or period: the program stands in the data set's place.
          <>
            <dt>Program</dt>
            <dd class="mono">{s.data_set}</dd>
          </>
        )
        : (
          <>
            <dt>Data set</dt>
            <dd>
              <Named name={props.names.name("dataSet", s.data_set)} uid={s.data_set} />
            </dd>
            <dt>Period</dt>
            <dd class="mono">{s.period}</dd>
          </>
        )}
      <dt>Attempts</dt>
      <dd>
        {s.attempts}
        {s.next_run_at && <NextRun at={s.next_run_at} tz={tz} />}
      </dd>
      <dt>Finished</dt>
      <dd>
        <Time value={s.finished_at} tz={tz} />
      </dd>
      <dt>DHIS2 answer</dt>
      <dd>
        {s.http_status ? `HTTP ${s.http_status}` : "–"}
        {s.dhis2_status ? ` · ${s.dhis2_status}` : ""} · {counts(s.import_count)}
      </dd>
      {s.last_error && <dt>Last error</dt>}
      {s.last_error && (
        <dd class="wrap">
          {s.last_error}
          {s.credential_problem && (
            <strong>
              (DHIS2 refused the gateway's credentials: check the DHIS2 account)
            </strong>
          )}
        </dd>
      )}
      {s.unmapped_codes?.length > 0 && <dt>Ignored codes</dt>}
      {s.unmapped_codes?.length > 0 && <dd class="mono">{s.unmapped_codes.join(", ")}</dd>}
      {s.requeued_at && <dt>Requeued</dt>}
      {s.requeued_at && (
        <dd>
          <Time value={s.requeued_at} tz={tz} /> by {s.requeued_by}
        </dd>
      )}
      {s.idempotency_key && <dt>Idempotency key</dt>}
      {s.idempotency_key && <dd class="mono">{s.idempotency_key}</dd>}
    </dl>
  );
}

async function requeueOne(ctx: FragmentContext, c: C) {
  const id = c.req.param("id")!;
  const res = await ctx.api(c).send<{ message: string; requeued: boolean }>(
    "POST",
    `/logs/${encodeURIComponent(id)}/requeue`,
  );
  if (!res.ok) return c.html(<ErrorAlert title="Not requeued" {...res} />, res.status as 400);
  return c.html(
    <Report kind={res.data.requeued ? "ok" : "warn"}>
      {res.data.message}. {res.data.requeued ? "The worker delivers it now." : ""}
    </Report>,
  );
}

async function deleteOne(ctx: FragmentContext, c: C) {
  const id = c.req.param("id")!;
  const res = await ctx.api(c).send<{ message: string }>(
    "DELETE",
    `/logs/${encodeURIComponent(id)}`,
  );
  if (!res.ok) return c.html(<ErrorAlert title="Not deleted" {...res} />, res.status as 400);
  return c.html(<Report kind="ok">Deleted submission {id} and its attempts.</Report>);
}

function NextRun(props: { at: string; tz: string }) {
  return (
    <span class="muted">
      , next try at <Time value={props.at} tz={props.tz} />
    </span>
  );
}

function Conflicts(props: { items: readonly Conflict[] | null }) {
  if (!props.items?.length) return <p class="muted">None.</p>;
  return (
    <Table
      columns={["Request code(s)", "DHIS2 object", "Error code", "Message"]}
      rows={props.items}
      row={(k) => (
        <tr>
          <td class="mono">
            {k.codes?.length ? k.codes.join(", ") : <span class="muted">(whole data set)</span>}
          </td>
          <td class="mono">
            {k.object}
            {k.property ? ` (${k.property})` : ""}
          </td>
          <td class="mono">{k.errorCode ?? "–"}</td>
          <td class="wrap">{k.message}</td>
        </tr>
      )}
    />
  );
}

function Attempts(props: { items: readonly Attempt[]; tz: string }) {
  if (!props.items.length) return <p class="muted">Not attempted yet.</p>;
  return (
    <Table
      columns={[
        num("#"),
        "Started",
        num("Duration"),
        "Outcome",
        "HTTP",
        "DHIS2",
        "Counts",
        "Conflicts",
        "Error",
      ]}
      rows={props.items}
      row={(a) => (
        <tr>
          <td class="num">{a.number}</td>
          <td class="nowrap">
            <Time value={a.started_at} tz={props.tz} />
          </td>
          <td class="num">{a.duration_ms} ms</td>
          <td>
            <StatusBadge status={a.outcome === "retry" ? "retrying" : a.outcome} />
          </td>
          <td>{a.http_status ?? "–"}</td>
          <td>{a.dhis2_status ?? "–"}</td>
          <td>{counts(a.import_count)}</td>
          <td class="num">{a.conflicts?.length ?? 0}</td>
          <td class="wrap">
            {a.error ?? "–"}
            {a.credential_problem && " (credentials)"}
            <div class="muted mono">
              {a.worker}
              {a.batch_id && ` · batch ${a.batch_id}`}
            </div>
          </td>
        </tr>
      )}
    />
  );
}

interface SentValue {
  dataElement: string;
  categoryOptionCombo?: string;
  value: string;
}

/** The data values DHIS2 was sent, each data element with its name. */
function Values(props: { payload: unknown; names: MetadataNames }) {
  const values = (props.payload as { dataValues?: SentValue[] } | null)?.dataValues ?? [];
  if (!values.length) return <p class="muted">None.</p>;
  return (
    <Table
      columns={["Data element", "Category option combo", num("Value")]}
      rows={values.slice(0, 200)}
      caption={values.length > 200 ? `First 200 of ${values.length}` : undefined}
      row={(v) => (
        <tr>
          <td>
            <Named name={props.names.name("dataElement", v.dataElement)} uid={v.dataElement} />
          </td>
          <td class="mono">{v.categoryOptionCombo ?? "–"}</td>
          <td class="num">{v.value}</td>
        </tr>
      )}
    />
  );
}
