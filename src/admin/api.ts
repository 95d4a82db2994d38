/**
 * The console reads and writes only through the public `/api/v3` routes, called in-process
 * with the signed-in user's own Authorization header. So the console cannot do anything the
 * API would refuse that user, and the routes' role checks are the console's role checks.
 */
import type { Context } from "hono";
import type { AppEnv } from "../http/env.ts";

/** The app's own fetch (`app.fetch`), resolved at request time. */
export type ApiFetch = (req: Request) => Response | Promise<Response>;

export interface ApiErrorBody {
  code: string;
  message: string;
  details?: unknown;
  requestId?: string;
}

export type ApiResult<T> =
  | { ok: true; status: number; data: T; headers: Headers }
  | { ok: false; status: number; error: ApiErrorBody; headers: Headers };

type Query = Record<string, string | string[] | number | undefined | null>;

export function toSearch(query: Query | URLSearchParams | undefined): string {
  if (!query) return "";
  const q = query instanceof URLSearchParams ? query : new URLSearchParams();
  if (!(query instanceof URLSearchParams)) {
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null || v === "") continue;
      for (const one of Array.isArray(v) ? v : [v]) q.append(k, String(one));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export class Api {
  constructor(
    private readonly fetcher: ApiFetch,
    private readonly authorization: string,
    private readonly requestId: string,
  ) {}

  get<T>(path: string, query?: Query | URLSearchParams): Promise<ApiResult<T>> {
    return this.send<T>("GET", path + toSearch(query));
  }

  /** The API's response itself, for a download passed on as it is. */
  raw(method: string, path: string): Promise<Response> {
    const headers = new Headers({
      Authorization: this.authorization,
      "X-Request-Id": this.requestId,
    });
    return Promise.resolve(
      this.fetcher(new Request(`http://in-process/api/v3${path}`, { method, headers })),
    );
  }

  async send<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
    const headers = new Headers({
      Authorization: this.authorization,
      "X-Request-Id": this.requestId,
      Accept: "application/json",
    });
    let payload: BodyInit | undefined;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers.set("Content-Type", "application/json");
      payload = JSON.stringify(body);
    }
    const res = await this.fetcher(
      new Request(`http://in-process/api/v3${path}`, { method, headers, body: payload }),
    );
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (res.ok) return { ok: true, status: res.status, data: parsed as T, headers: res.headers };
    const env = (parsed as { error?: ApiErrorBody } | undefined)?.error;
    return {
      ok: false,
      status: res.status,
      headers: res.headers,
      error: env ?? { code: "http_" + res.status, message: text.slice(0, 300) || res.statusText },
    };
  }
}

export function apiFor(c: Context<AppEnv>, fetcher: ApiFetch): Api {
  const authorization = c.get("consoleAuthorization") ?? c.req.header("authorization") ?? "";
  return new Api(fetcher, authorization, c.get("requestId") ?? "");
}

/** Raised by a fragment when an API call failed; rendered as an alert with the same status. */
export class ApiFailure extends Error {
  constructor(readonly status: number, readonly error: ApiErrorBody) {
    super(error.message);
  }
}

/** The data of a successful call, or an ApiFailure for the fragment's error handler. */
export function must<T>(r: ApiResult<T>): T {
  if (!r.ok) throw new ApiFailure(r.status, r.error);
  return r.data;
}
