/**
 * How /api/v2 reaches the core: each old route calls its /api/v3 route in-process, with the
 * caller's own Authorization header (as the console does, src/admin/api.ts), so the v3 route's
 * authentication, role check and validation are the old route's too; this layer only rewrites
 * the request and reshapes the reply.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/env.ts";

/** The app's own fetch, with the connection info (`env`) so client addresses stay right. */
export type AppFetch = (req: Request, env: unknown) => Response | Promise<Response>;

/**
 * Marks the env of an in-process call, so the request log keeps the caller's /api/v2 request
 * only, not the one to a dozen v3 calls it makes. A symbol: no client can set it.
 */
export const IN_PROCESS = Symbol("dhis2gw.in-process");

export function isInProcess(env: unknown): boolean {
  return typeof env === "object" && env !== null && IN_PROCESS in env;
}

/** Request headers a v3 route may read; nothing else crosses. */
const PASSED = [
  "authorization",
  "content-type",
  "idempotency-key",
  "x-forwarded-for",
  "accept",
];

export interface V3Call {
  method?: string;
  /** Path below /api/v3, with its own query string if any. */
  path: string;
  query?: URLSearchParams;
  body?: BodyInit | null;
  /** Replaces the caller's Content-Type (a rebuilt body; a FormData body sets its own). */
  contentType?: string;
}

export function callV3(c: Context<AppEnv>, fetcher: AppFetch, call: V3Call): Promise<Response> {
  const headers = new Headers();
  for (const name of PASSED) {
    const v = c.req.header(name);
    if (v !== undefined) headers.set(name, v);
  }
  headers.set("x-request-id", c.get("requestId") ?? "");
  if (call.contentType) headers.set("content-type", call.contentType);
  // A FormData body brings its own Content-Type, with its own boundary.
  if (call.body instanceof FormData) headers.delete("content-type");
  const q = call.query?.toString();
  const method = call.method ?? c.req.method;
  const body = call.body !== undefined
    ? call.body
    : (method === "GET" || method === "DELETE" ? null : c.req.raw.body);
  return Promise.resolve(fetcher(
    new Request(`http://in-process/api/v3${call.path}${q ? `?${q}` : ""}`, {
      method,
      headers,
      body,
      // A streamed request body needs this in fetch's Request (Deno and the standard).
      ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
    } as RequestInit),
    inProcessEnv(c.env),
  ));
}

/**
 * The env of the in-process call: the caller's peer address (clientAddress reads it) and the
 * in-process mark. Copied, not inherited: Deno.serve's info object reads private fields in its
 * getters, which throw when called on any other object (every forwarded route was a 500).
 */
function inProcessEnv(env: unknown): Record<string | symbol, unknown> {
  const info = env as { remoteAddr?: unknown } | undefined;
  return { remoteAddr: info?.remoteAddr, [IN_PROCESS]: true };
}

/** The JSON of a successful v3 reply. */
export async function jsonOf<T>(res: Response): Promise<T> {
  return await res.json() as T;
}

/**
 * Errors on /api/v2 keep the old service's string: `{"error": "<message>", "code", "details",
 * "requestId"}`, the one exception to the single envelope. The old service answered every
 * input error with 400, so a 422 is a 400 here (its `code` still says validation_failed);
 * field problems are also listed as strings in `detail`, as its schema errors were.
 */
export const oldErrorShape: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  const res = c.res;
  if (res.status < 400 || !res.headers.get("content-type")?.includes("application/json")) return;
  let body: { error?: { code?: string; message?: string; details?: unknown; requestId?: string } };
  try {
    body = await res.clone().json();
  } catch {
    return;
  }
  const e = body?.error;
  if (!e || typeof e !== "object" || typeof e.message !== "string") return;
  const old: Record<string, unknown> = {
    error: e.message,
    code: e.code,
    requestId: e.requestId ?? c.get("requestId"),
  };
  if (e.details !== undefined) {
    old.details = e.details;
    if (Array.isArray(e.details)) old.detail = e.details.map(problemText);
  }
  const headers = new Headers(res.headers);
  headers.delete("content-length");
  c.res = undefined as unknown as Response; // Hono keeps the old one's headers otherwise
  c.res = new Response(JSON.stringify(old), {
    status: res.status === 422 ? 400 : res.status,
    headers,
  });
};

function problemText(d: unknown): string {
  if (!d || typeof d !== "object") return String(d);
  const p = d as { field?: string; row?: number; column?: string; message?: string };
  const where = p.field ??
    (p.row !== undefined ? `row ${p.row}${p.column ? `, ${p.column}` : ""}` : "");
  return where ? `${where}: ${p.message ?? ""}` : String(p.message ?? "");
}
