/**
 * The reason of a refused request, kept in its request log row: the error envelope's code,
 * message and the names of the fields it complains about. The envelope is our own reply and
 * never quotes a secret (errors.ts); the request body is never read here.
 */
export interface RefusalReason {
  error_code: string | null;
  error_message: string | null;
  error_fields: string[] | null;
}

const MAX_MESSAGE = 500;
const MAX_FIELDS = 50;

export async function refusalReason(res: Response): Promise<RefusalReason> {
  const none = { error_code: null, error_message: null, error_fields: null };
  if (res.status < 400 || !(res.headers.get("content-type") ?? "").includes("json")) return none;
  let body: unknown;
  try {
    body = await res.clone().json();
  } catch {
    return none;
  }
  const error = (body as { error?: Record<string, unknown> } | null)?.error;
  if (!error || typeof error !== "object") return none;
  const fields = new Set<string>();
  const details = error.details as unknown;
  const items = Array.isArray(details)
    ? details
    : Array.isArray((details as { problems?: unknown })?.problems)
    ? (details as { problems: unknown[] }).problems
    : [];
  for (const d of items) {
    const f = (d as { field?: unknown })?.field;
    if (typeof f === "string" && fields.size < MAX_FIELDS) fields.add(f);
  }
  return {
    error_code: typeof error.code === "string" ? error.code : null,
    error_message: typeof error.message === "string" ? error.message.slice(0, MAX_MESSAGE) : null,
    error_fields: fields.size ? [...fields] : null,
  };
}
