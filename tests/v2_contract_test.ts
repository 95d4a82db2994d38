/**
 * Issue 12 Part A: the old Go service's documented request/response pairs
 * (tests/fixtures/old_go_service.ts) replayed against /api/v2 and compared field by field,
 * types included; and an old client's session, unchanged against /api/v2, then the same
 * session against /api/v3, which answers in today's shapes.
 */
import assert from "node:assert/strict";
import * as XLSX from "@e965/xlsx";
import { NULLABLE_STRING, OLD_PAIRS, type OldPair } from "./fixtures/old_go_service.ts";
import { basicHeader, createTestApp, type TestApp } from "./support/app.ts";
import { createTestDb, dbTest, type TestDb } from "./support/pg.ts";

interface Session {
  token?: string;
  submission_id?: number;
  task_id?: string;
  uid: string;
}

function fill(text: string, s: Session): string {
  return text.replace(/\{(submission_id|task_id|uid|token)\}/g, (_, k: keyof Session) => {
    const v = s[k];
    if (v === undefined) throw new Error(`no ${k} yet in the session`);
    return String(v);
  });
}

function xlsxBytes(rows: string[][]): Uint8Array {
  const wb = XLSX.utils.book_new();
  // As the old export left it: an empty Sheet1 first, the data on "Mappings".
  XLSX.utils.book_append_sheet(wb, XLSX.utils.aoa_to_sheet([]), "Sheet1");
  XLSX.utils.book_append_sheet(wb, XLSX.utils.aoa_to_sheet(rows), "Mappings");
  return XLSX.write(wb, { type: "array", bookType: "xlsx" }) as Uint8Array;
}

function kind(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

/**
 * Every field of `old` is in `got` with the old type (recursively; each item of a `got` array
 * against the old array's first item); returns the differences as `path: what`.
 */
export function compareShape(old: unknown, got: unknown, path = ""): string[] {
  const at = path || "(body)";
  if (old === NULLABLE_STRING) {
    return got === null || typeof got === "string" ? [] : [`${at}: ${kind(got)}, not string|null`];
  }
  if (kind(old) !== kind(got)) return [`${at}: ${kind(got)}, not ${kind(old)}`];
  if (Array.isArray(old)) {
    if (old.length === 0) return [];
    return (got as unknown[]).flatMap((item) => compareShape(old[0], item, `${path}[]`));
  }
  if (kind(old) === "object") {
    const out: string[] = [];
    for (const [k, v] of Object.entries(old as Record<string, unknown>)) {
      const sub = path ? `${path}.${k}` : k;
      const g = got as Record<string, unknown>;
      if (!(k in g)) out.push(`${sub}: missing`);
      else out.push(...compareShape(v, g[k], sub));
    }
    return out;
  }
  return [];
}

/** The values at a dotted path (`items[].status`), one per array item. */
function valuesAt(v: unknown, path: string): unknown[] {
  let cur: unknown[] = [v];
  for (const part of path.split(".")) {
    const many = part.endsWith("[]");
    const key = many ? part.slice(0, -2) : part;
    cur = cur.map((x) => key ? (x as Record<string, unknown>)?.[key] : x);
    if (many) cur = cur.flatMap((x) => Array.isArray(x) ? x : [x]);
  }
  return cur;
}

function headersFor(t: TestApp, auth: OldPair["auth"], s: Session): Record<string, string> {
  const admin = t.users.admin;
  switch (auth) {
    case "basic":
      return basicHeader(admin.username, admin.password);
    case "token":
      return { Authorization: `Token ${s.token ?? admin.apiToken}` };
    case "bad-basic":
      return basicHeader(admin.username, "not the password");
    case "bearer-scheme-garbage":
      return { Authorization: "Digest abc" };
    case "none":
      return {};
  }
}

async function failSubmission(db: TestDb, id: number): Promise<void> {
  const [d] = await db.sql<{ id: number }[]>`
    update deliveries set status = 'dead', attempts = 1,
      last_error = 'dhis2 error response: 409 Conflict'
    where submission_id = ${id} returning id`;
  await db.sql`
    insert into delivery_attempts (delivery_id, number, worker, started_at, finished_at,
                                   duration_ms, outcome, http_status, error)
    select ${d.id}, coalesce(max(number), 0) + 1, 'test', now(), now(), 1, 'dead', 409,
           'dhis2 error response: 409 Conflict'
    from delivery_attempts where delivery_id = ${d.id}`;
}

async function replay(t: TestApp, db: TestDb, pair: OldPair, s: Session): Promise<string[]> {
  if (pair.before === "fail") await failSubmission(db, s.submission_id!);
  const headers = headersFor(t, pair.auth, s);
  let body: BodyInit | undefined;
  if (pair.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = fill(JSON.stringify(pair.json), s);
  } else if (pair.file) {
    const form = new FormData();
    const bytes = pair.file.xlsx
      ? xlsxBytes(pair.file.xlsx)
      : new TextEncoder().encode(pair.file.text);
    form.set("file", new File([bytes as BlobPart], pair.file.name, { type: pair.file.type }));
    body = form;
  }
  const res = await t.app.request(fill(pair.path, s), {
    method: pair.method,
    headers,
    body,
    redirect: "manual",
  });
  const problems: string[] = [];
  const text = await res.text();
  if (res.status !== pair.status) {
    problems.push(`status ${res.status}, not ${pair.status}: ${text}`);
  }
  for (const [name, want] of Object.entries(pair.headers ?? {})) {
    const got = res.headers.get(name) ?? "";
    if (want instanceof RegExp ? !want.test(got) : got !== want) {
      problems.push(`header ${name}: ${got}`);
    }
  }
  if (pair.text !== undefined && text !== pair.text) problems.push(`text ${text}`);
  if (pair.body === undefined) return problems;
  let got: unknown;
  try {
    got = JSON.parse(text);
  } catch {
    return [...problems, `not JSON: ${text.slice(0, 200)}`];
  }
  const allowed = new Set(Object.keys(pair.differences ?? {}));
  for (const p of compareShape(pair.body, got)) {
    if (!allowed.has(p.slice(0, p.indexOf(":")))) problems.push(p);
  }
  // An error's new fields ride along with the old string.
  if (pair.status >= 400) {
    const e = got as Record<string, unknown>;
    if (typeof e.code !== "string" || typeof e.requestId !== "string") {
      problems.push(`error without code/requestId: ${text}`);
    }
  }
  for (const path of pair.exact ?? []) {
    const want = valuesAt(JSON.parse(fill(JSON.stringify(pair.body), s)), path)[0];
    for (const v of valuesAt(got, path)) {
      if (JSON.stringify(v) !== JSON.stringify(want)) {
        problems.push(`${path}: ${JSON.stringify(v)}, not ${JSON.stringify(want)}`);
      }
    }
  }
  for (const [path, re] of Object.entries(pair.patterns ?? {})) {
    for (const v of valuesAt(got, path)) {
      if (!re.test(String(v))) problems.push(`${path}: ${JSON.stringify(v)} does not match ${re}`);
    }
  }
  const reply = got as Record<string, unknown>;
  if (pair.path.endsWith("/getToken") || pair.path.endsWith("/refreshToken")) {
    s.token = reply.token as string;
  }
  if (pair.path === "/api/v2/aggregate" && res.ok) {
    s.submission_id = reply.submission_id as number;
    s.task_id = reply.task_id as string;
  }
  return problems;
}

dbTest("every documented request/response pair of the old service holds on /api/v2", async () => {
  const db = await createTestDb("v2_contract");
  const t = await createTestApp(db);
  try {
    const s: Session = { uid: t.users.admin.uid };
    const failures: string[] = [];
    for (const pair of OLD_PAIRS) {
      for (const p of await replay(t, db, pair, s)) failures.push(`${pair.name}: ${p}`);
    }
    assert.deepEqual(failures, []);
    assert.equal(OLD_PAIRS.length, 32);
  } finally {
    await t.close();
    await db.close();
  }
});
