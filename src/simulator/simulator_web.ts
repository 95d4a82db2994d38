/** Versions and WebMessage replies shared by the simulator's parts (reference §0.3, §2). */

export const SIMULATED_VERSIONS = ["2.38", "2.39", "2.40", "2.41", "2.42", "2.43"] as const;
export type Dhis2Version = typeof SIMULATED_VERSIONS[number];

/** `2.41` → 41, for "from 2.41 on" comparisons. */
export function minor(version: Dhis2Version): number {
  return Number(version.split(".")[1]);
}

/** Late patch releases: the reference describes branch tips (§0.2). */
/** The release a simulator plays: `version`'s late patch, or the patch asked for. */
export function releaseOf(version: Dhis2Version, patch?: number): string {
  return patch === undefined ? FULL_VERSION[version] : `${version}.${patch}`;
}

export const FULL_VERSION: Record<Dhis2Version, string> = {
  "2.38": "2.38.7",
  "2.39": "2.39.6",
  "2.40": "2.40.9",
  "2.41": "2.41.3",
  "2.42": "2.42.1",
  "2.43": "2.43.1",
};

const REASON: Record<number, string> = {
  200: "OK",
  201: "Created",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  415: "Unsupported Media Type",
  500: "Internal Server Error",
};

export function json(body: unknown, status = 200, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json;charset=UTF-8", ...headers },
  });
}

/**
 * A WebMessage in DHIS2's property order, nulls omitted (§2). 4xx/5xx carry
 * `Cache-Control: no-cache, private` as `WebMessageControllerAdvice` adds it.
 */
export function webMessage(
  httpStatusCode: number,
  status: "OK" | "WARNING" | "ERROR",
  message: string,
  extra: { response?: unknown; errorCode?: string; headers?: Record<string, string> } = {},
): Response {
  const body: Record<string, unknown> = {
    httpStatus: REASON[httpStatusCode] ?? String(httpStatusCode),
    httpStatusCode,
    status,
  };
  if (extra.errorCode) body.errorCode = extra.errorCode;
  body.message = message;
  if (extra.response !== undefined) body.response = extra.response;
  const headers = { ...extra.headers };
  if (httpStatusCode >= 400) headers["Cache-Control"] = "no-cache, private";
  return json(body, httpStatusCode, headers);
}
