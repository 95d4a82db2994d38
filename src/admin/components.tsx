/** The pieces the console's pages and fragments share: tables, pager, cards, forms, alerts. */
import type { Child } from "hono/jsx";
import type { ApiErrorBody } from "./api.ts";

export function StatusBadge(props: { status: string }) {
  return <span class={`badge s-${props.status}`}>{props.status}</span>;
}

/** `2026-05-04 10:37:12` in the server's timezone; "–" for none. */
export function formatTime(value: string | null | undefined, timeZone: string): string {
  if (!value) return "–";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  }).formatToParts(d);
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** "3 h 12 min", "45 s": how long the oldest submission has waited. */
export function formatAge(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days ${h % 24} h`;
}

export function Time(props: { value: string | null | undefined; tz: string }) {
  if (!props.value) return <span class="muted">–</span>;
  return <time datetime={props.value}>{formatTime(props.value, props.tz)}</time>;
}

/** An API error as the console shows it: what failed, the message, and field problems. */
export function ErrorAlert(props: { title?: string; status: number; error: ApiErrorBody }) {
  const details = Array.isArray(props.error.details) ? props.error.details : [];
  return (
    <div class="alert error" role="alert">
      <strong>{props.title ?? "That did not work"}</strong> (HTTP {props.status}):{" "}
      {props.error.message}
      {details.length > 0 && (
        <ul>
          {details.slice(0, 50).map((d, i) => <li key={i}>{describeProblem(d)}</li>)}
        </ul>
      )}
      {props.error.requestId && (
        <div class="muted">
          Request id <code>{props.error.requestId}</code>
        </div>
      )}
    </div>
  );
}

function describeProblem(d: unknown): string {
  if (d && typeof d === "object") {
    const r = d as Record<string, unknown>;
    const where = [r.row !== undefined ? `row ${r.row}` : "", r.column ?? r.field ?? ""]
      .filter(Boolean).join(", ");
    return `${where ? where + ": " : ""}${r.message ?? JSON.stringify(d)}`;
  }
  return String(d);
}

export function Report(props: { kind: "ok" | "warn" | "error"; children?: Child }) {
  return (
    <div class={`alert ${props.kind}`} role={props.kind === "error" ? "alert" : "status"}>
      {props.children}
    </div>
  );
}

/** Previous/next links that keep the current filters (`data-nav`: the script loads in place). */
export function Pager(
  props: {
    page: number;
    totalPages: number;
    total: number;
    query: URLSearchParams;
    noun: string;
    /** The query parameter that holds the page (several lists on one page). */
    param?: string;
  },
) {
  const link = (page: number) => {
    const q = new URLSearchParams(props.query);
    q.set(props.param ?? "page", String(page));
    return `?${q}`;
  };
  return (
    <nav class="pager" aria-label={`Pages of ${props.noun}`}>
      {props.page > 1
        ? <a href={link(props.page - 1)} data-nav>← Previous</a>
        : <span class="muted">← Previous</span>}
      <span>
        Page {props.page} of {Math.max(props.totalPages, 1)} · {props.total} {props.noun}
      </span>
      {props.page < props.totalPages
        ? <a href={link(props.page + 1)} data-nav>Next →</a>
        : <span class="muted">Next →</span>}
    </nav>
  );
}

export function Json(props: { value: unknown; label: string }) {
  if (props.value === null || props.value === undefined) {
    return <p class="muted">None recorded.</p>;
  }
  const text = typeof props.value === "string" ? props.value : JSON.stringify(props.value, null, 2);
  return <pre aria-label={props.label} tabindex={0}>{text}</pre>;
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  page_size: number;
  total_pages: number;
}

/** A column header; `false` leaves the column out (an admin-only one, for a viewer). */
export type Column = Child | { label: Child; class: string } | false;

/** Right-aligned, for counts and numbers. */
export const num = (label: Child): Column => ({ label, class: "num" });

function isClassed(c: Column): c is { label: Child; class: string } {
  return typeof c === "object" && c !== null && "label" in c && "class" in c;
}

function header(c: Column) {
  return isClassed(c) ? <th scope="col" class={c.class}>{c.label}</th> : <th scope="col">{c}</th>;
}

/**
 * A list as a table: one header per column, one `row` per item, and, for none, a row saying so
 * (`empty.span` wide: kept as each list had it, whatever the columns a role sees).
 */
export function Table<T>(props: {
  caption?: Child;
  columns: Column[];
  rows: readonly T[];
  row: (item: T) => Child;
  empty?: { text: string; span: number };
}) {
  const { empty, rows } = props;
  // The box scrolls sideways on a narrow screen; the page never does (static/phone.css).
  return (
    <div class="table-scroll" tabindex={0} role="region" aria-label="table">
      <table>
        {props.caption && <caption class="muted">{props.caption}</caption>}
        <thead>
          <tr>
            {props.columns.filter((c) => c !== false).map(header)}
          </tr>
        </thead>
        <tbody>
          {empty && rows.length === 0 && (
            <tr>
              <td colspan={empty.span} class="muted">{empty.text}</td>
            </tr>
          )}
          {rows.map(props.row)}
        </tbody>
      </table>
    </div>
  );
}

/** A titled card; the heading labels the section for screen readers. */
export function Card(props: { id: string; title: Child; children?: Child }) {
  return (
    <section class="card" aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      {props.children}
    </section>
  );
}

/** A button that posts to a fragment action after the user confirms `confirm`. */
export function ActionButton(props: { action: string; confirm: string; children?: Child }) {
  return (
    <button type="button" data-action={props.action} data-confirm={props.confirm}>
      {props.children}
    </button>
  );
}

/** A labelled form field around its control; `id` is the control's. */
export function FormField(props: { id: string; label: Child; children?: Child }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
    </div>
  );
}

/** The query a list page was opened with: its filters, pre-filled into the form. */
export type Query = Record<string, string | undefined>;

/** A text-like filter field, pre-filled from the page's query (`f-<name>`). */
export function FilterField(
  props: { name: string; label: string; q: Query; type?: string; placeholder?: string },
) {
  return (
    <div class="field">
      <label for={`f-${props.name}`}>{props.label}</label>
      <input
        id={`f-${props.name}`}
        name={props.name}
        type={props.type ?? "text"}
        value={props.q[props.name] ?? ""}
        placeholder={props.placeholder}
      />
    </div>
  );
}

/** A choice filter: "any", then `options` as `[value, text]`, the query's one selected. */
export function FilterSelect(
  props: { name: string; label: string; q: Query; options: readonly (readonly [string, string])[] },
) {
  const current = props.q[props.name];
  return (
    <div class="field">
      <label for={`f-${props.name}`}>{props.label}</label>
      <select id={`f-${props.name}`} name={props.name}>
        <option value="">any</option>
        {props.options.map(([value, text]) => (
          <option value={value} selected={current === value}>{text}</option>
        ))}
      </select>
    </div>
  );
}

/** A list page's read-only filter form; the script turns Apply into the page's query. */
export function FilterForm(props: { label: string; children?: Child }) {
  return (
    <form class="card" data-filter role="search" aria-label={props.label}>
      <div class="grid">
        {props.children}
        <div class="buttons">
          <button type="submit" class="primary">Apply filters</button>
          <button type="button" data-reset-filters>Clear</button>
        </div>
      </div>
    </form>
  );
}

/** `[value, value]` pairs, for a select whose options show their own value. */
export const same = (values: readonly string[]) => values.map((v) => [v, v] as const);

/** A DHIS2 UID with its name above it when the metadata snapshot knows it. */
export function Named(props: { name?: string | null; uid: string }) {
  return (
    <span class="named">
      {props.name && <span class="name">{props.name}</span>}
      <span class="mono muted">{props.uid || "–"}</span>
    </span>
  );
}
