/** What the simulator keeps of each request, and how big a costed one is. */

export interface RecordedRequest {
  method: string;
  path: string;
  /** First value of each query parameter. */
  query: Record<string, string>;
  /** Lower-case names; `authorization` and `cookie` are left out. */
  headers: Record<string, string>;
  /** Which scheme the Authorization header used, without its secret. */
  authScheme: "basic" | "apitoken" | "other" | null;
  /** Parsed JSON, else the raw text, else null. */
  body: unknown;
  time: string;
}

/** Values (or registrations) in a costed request: what its per-value cost counts. */
export function sizeOf(body: unknown): number {
  if (body === null || typeof body !== "object") return 0;
  const b = body as { dataValues?: unknown; completeDataSetRegistrations?: unknown };
  const list = b.dataValues ?? b.completeDataSetRegistrations;
  return Array.isArray(list) ? list.length : 0;
}

export function record(req: Request, url: URL, rawBody: string, time: Date): RecordedRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of req.headers) {
    if (name !== "authorization" && name !== "cookie") headers[name] = value;
  }
  const auth = req.headers.get("authorization");
  const authScheme = auth === null
    ? null
    : /^basic /i.test(auth)
    ? "basic"
    : /^apitoken/i.test(auth)
    ? "apitoken"
    : "other";
  let body: unknown = rawBody === "" ? null : rawBody;
  try {
    if (rawBody !== "") body = JSON.parse(rawBody);
  } catch {
    // not JSON: keep the text
  }
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) if (!(k in query)) query[k] = v;
  return {
    method: req.method,
    path: url.pathname,
    query,
    headers,
    authScheme,
    body,
    time: time.toISOString(),
  };
}
