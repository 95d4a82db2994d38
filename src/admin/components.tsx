/** Small pieces the console's fragments share. */
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
  props: { page: number; totalPages: number; total: number; query: URLSearchParams; noun: string },
) {
  const link = (page: number) => {
    const q = new URLSearchParams(props.query);
    q.set("page", String(page));
    return `?${q}`;
  };
  return (
    <nav class="pager" aria-label="Pages">
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
