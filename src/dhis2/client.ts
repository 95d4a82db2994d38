/**
 * DHIS2 Web API client: posts data value sets and reads what the gateway needs to validate
 * mappings. It never throws for an HTTP status – deciding what a status means is
 * `outcome.ts`'s job – and its error strings never carry the password or token.
 */
import type {
  DataElementMeta,
  DataSetMeta,
  Dhis2Me,
  OrgUnitMeta,
  SystemInfo,
} from "./metadata_types.ts";

export type { DataElementMeta, DataSetMeta, Dhis2Me, OrgUnitMeta, SystemInfo };

export type Dhis2Auth =
  | { method: "basic"; username: string; password: string }
  | { method: "pat"; token: string };

export type ImportStrategy = "CREATE_AND_UPDATE" | "CREATE" | "UPDATE" | "DELETE";

/** Query parameters of `POST /api/dataValueSets` the gateway may set (reference §3.2). */
export interface ImportOptions {
  importStrategy?: ImportStrategy;
  idScheme?: string;
  dataElementIdScheme?: string;
  orgUnitIdScheme?: string;
  dryRun?: boolean;
}

export interface Dhis2ClientOptions {
  /** Server root, with or without a trailing `/api` or `/api/`. */
  baseUrl: string;
  /** A function is asked before every request: credentials rotated by a reload (SIGHUP). */
  auth: Dhis2Auth | (() => Dhis2Auth);
  /**
   * fetch exposes no connect phase, so this bounds the wait for response headers on reads,
   * which DHIS2 answers quickly; silence that long means the server or network is down.
   * The import POST is bounded by `timeoutMs` only: DHIS2 sends its headers after the whole
   * import ran in the request thread (§8.3), so a header deadline would kill slow imports.
   */
  connectTimeoutMs: number;
  /** Whole request including the body read. */
  timeoutMs: number;
  importOptions?: ImportOptions;
  fetch?: typeof fetch;
}

export interface DataValue {
  dataElement: string;
  period?: string;
  orgUnit?: string;
  categoryOptionCombo?: string;
  attributeOptionCombo?: string;
  value?: string | null;
  comment?: string;
  /** Spelled `followup` in dataValueSets (§3.1). */
  followup?: boolean;
  storedBy?: string;
  deleted?: boolean;
}

export interface DataValueSetPayload {
  dataSet?: string;
  completeDate?: string;
  period?: string;
  orgUnit?: string;
  attributeOptionCombo?: string;
  dataValues: DataValue[];
}

/** One entry of `POST /api/completeDataSetRegistrations`. */
export interface CompleteRegistration {
  dataSet: string;
  period: string;
  organisationUnit: string;
  attributeOptionCombo?: string;
  /** `yyyy-MM-dd`. */
  date?: string;
  completed: boolean;
}

export type Dhis2Result =
  | {
    kind: "response";
    httpStatus: number;
    /** Parsed JSON, or null when the body is empty or not JSON (proxies answer in HTML). */
    body: unknown;
    rawBody: string;
    durationMs: number;
    /** `Location` of a 3xx: DHIS2 redirects to its login page when it saw no credentials. */
    location?: string;
  }
  | { kind: "transport_error"; error: string; timedOut: boolean; durationMs: number };

/** A metadata read: the value, or why it could not be had (never thrown). */
export type Dhis2Read<T> =
  | { ok: true; value: T; httpStatus: number; durationMs: number }
  | { ok: false; error: string; httpStatus?: number; timedOut: boolean; durationMs: number };

export interface Dhis2Client {
  /** The normalised API root, e.g. `https://dhis.example.org/api`. */
  readonly apiUrl: string;
  postDataValueSets(payload: DataValueSetPayload): Promise<Dhis2Result>;
  /** Registers data sets complete (a batched import carries no `completeDate`, §3.1). */
  postCompleteDataSetRegistrations(
    registrations: CompleteRegistration[],
  ): Promise<Dhis2Result>;
  getSystemInfo(): Promise<Dhis2Read<SystemInfo>>;
  getMe(): Promise<Dhis2Read<Dhis2Me>>;
  /** The data set with everything needed to validate a mapping (§7.2); null when 404. */
  getDataSet(id: string): Promise<Dhis2Read<DataSetMeta | null>>;
  /** Data elements by UID (or by code); the ones that do not exist are simply absent. */
  getDataElements(keys: string[], by?: "id" | "code"): Promise<Dhis2Read<DataElementMeta[]>>;
  getOrganisationUnits(keys: string[], by?: "id" | "code"): Promise<Dhis2Read<OrgUnitMeta[]>>;
  getCategoryOptionCombos(
    categoryComboId: string,
  ): Promise<Dhis2Read<Array<{ id: string; code?: string; name?: string }>>>;
}

/** Enough of an import summary with conflicts to diagnose; the rest is dropped. */
export const RAW_BODY_LIMIT = 64 * 1024;

/** Keeps `filter=id:in:[…]` URLs around 1.5 KB, far below proxy URL limits. */
const FILTER_CHUNK = 100;

const COC_FIELDS = "categoryOptionCombos[id,code,name]";
const DATA_ELEMENT_FIELDS = "id,code,name,valueType,domainType,aggregationType," +
  `zeroIsSignificant,categoryCombo[id,${COC_FIELDS}],optionSet[id,options[code]]`;
// The §7.2 recipe, verbatim: dataSetElements' categoryCombo overrides the element's own.
const DATA_SET_FIELDS = "id,name,code,periodType,openFuturePeriods,expiryDays," +
  `categoryCombo[id,${COC_FIELDS}],dataSetElements[dataElement[id,code,name,valueType,` +
  `zeroIsSignificant,optionSet[id],categoryCombo[id,${COC_FIELDS}]],` +
  `categoryCombo[id,${COC_FIELDS}]],organisationUnits[id,code]`;

/** `https://x/dhis`, `https://x/dhis/`, `https://x/dhis/api/` all become `https://x/dhis/api`. */
export function normaliseApiUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl.trim());
  } catch {
    throw new Error("DHIS2 base URL is not a valid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error("DHIS2 base URL must use http or https");
  }
  // Credentials in the URL would leak into every error message that names the URL.
  if (url.username || url.password) throw new Error("DHIS2 base URL must not contain credentials");
  if (url.search || url.hash) throw new Error("DHIS2 base URL must not have a query or fragment");
  const path = url.pathname.replace(/\/+$/, "").replace(/\/api$/, "");
  return `${url.origin}${path}/api`;
}

/** Pre-emptive auth: DHIS2 never challenges a client that sent nothing (§1.1). */
export function authorizationHeader(auth: Dhis2Auth): string {
  if (auth.method === "pat") return `ApiToken ${auth.token}`;
  const bytes = new TextEncoder().encode(`${auth.username}:${auth.password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

/** DHIS2 refused the credentials sent: 401, 403, or a redirect to its login page (§1.1). */
function refusedCredentials(r: Dhis2Result): boolean {
  if (r.kind !== "response") return false;
  if (r.httpStatus === 401 || r.httpStatus === 403) return true;
  return r.httpStatus >= 300 && r.httpStatus < 400 && /login/i.test(r.location ?? "");
}

export function createDhis2Client(opts: Dhis2ClientOptions): Dhis2Client {
  const apiUrl = normaliseApiUrl(opts.baseUrl);
  const doFetch = opts.fetch ?? fetch;
  const authOf = typeof opts.auth === "function" ? opts.auth : () => opts.auth as Dhis2Auth;
  let current: { auth: Dhis2Auth; header: string; secrets: string[] } | undefined;
  /** The header for the credentials now in force, recomputed only when they change. */
  const credentials = () => {
    const auth = authOf();
    if (current?.auth !== auth) {
      const header = authorizationHeader(auth);
      current = {
        auth,
        header,
        secrets: [
          auth.method === "pat" ? auth.token : auth.password,
          header.slice(header.indexOf(" ") + 1),
        ].filter((s) => s.length >= 4),
      };
    }
    return current;
  };

  type Credentials = NonNullable<typeof current>;
  /** Masks the secrets of the credentials a request used and of those in force now. */
  const redact = (text: string, used: Credentials) =>
    [...used.secrets, ...credentials().secrets].reduce(
      (t, s) => t.split(s).join("[redacted]"),
      text,
    );

  async function send(
    method: "GET" | "POST",
    path: string,
    body?: string,
    headerDeadlineMs?: number,
  ): Promise<Dhis2Result> {
    const started = performance.now();
    const used = credentials();
    const first = await exchange(method, path, used, body, opts.timeoutMs, headerDeadlineMs);
    // Refused with credentials that a reload replaced while the request was on its way (the
    // operator revoked the old PAT right after the gateway took the new one): DHIS2 processed
    // nothing, so the same request goes again at once with the new ones, instead of a retry
    // with its back-off and a credential alarm. Within the one timeout the caller allowed: the
    // delivery's lease is sized for one request of timeoutMs.
    const now = credentials();
    if (now.header === used.header || !refusedCredentials(first)) return first;
    const left = Math.floor(opts.timeoutMs - (performance.now() - started));
    if (left < 1) return first;
    const headerLeft = headerDeadlineMs === undefined
      ? undefined
      : Math.min(headerDeadlineMs, left);
    const again = await exchange(method, path, now, body, left, headerLeft);
    return { ...again, durationMs: elapsed(started) };
  }

  async function exchange(
    method: "GET" | "POST",
    path: string,
    auth: Credentials,
    body: string | undefined,
    timeoutMs: number,
    headerDeadlineMs: number | undefined,
  ): Promise<Dhis2Result> {
    const started = performance.now();
    const controller = new AbortController();
    let timedOutAfter = 0;
    const abortAfter = (ms: number) =>
      setTimeout(() => {
        timedOutAfter = ms;
        controller.abort();
      }, ms);
    const total = abortAfter(Math.round(timeoutMs));
    const headerTimer = headerDeadlineMs === undefined ? undefined : abortAfter(headerDeadlineMs);
    const headers: Record<string, string> = {
      Authorization: auth.header,
      Accept: "application/json",
    };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const res = await doFetch(`${apiUrl}${path}`, {
        method,
        headers,
        body,
        signal: controller.signal,
        // A followed redirect would turn "not authenticated" into a 200 login page.
        redirect: "manual",
      });
      clearTimeout(headerTimer);
      const rawBody = await res.text();
      const result: Dhis2Result = {
        kind: "response",
        httpStatus: res.status,
        body: parseJson(rawBody),
        rawBody: rawBody.length > RAW_BODY_LIMIT ? rawBody.slice(0, RAW_BODY_LIMIT) : rawBody,
        durationMs: elapsed(started),
      };
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location) result.location = location;
      return result;
    } catch (err) {
      const timedOut = timedOutAfter > 0;
      const error = timedOut
        ? `${method} ${path.split("?")[0]} timed out after ${timedOutAfter} ms`
        : `${method} ${path.split("?")[0]} failed: ${redact(describeError(err), auth)}`;
      return { kind: "transport_error", error, timedOut, durationMs: elapsed(started) };
    } finally {
      clearTimeout(total);
      clearTimeout(headerTimer);
    }
  }

  async function read<T>(path: string, extract: (body: unknown) => T | undefined) {
    const result = await send("GET", path, undefined, opts.connectTimeoutMs);
    return toRead(result, extract);
  }

  async function readChunked<T>(
    keys: string[],
    pathFor: (chunk: string[]) => string,
    extract: (body: unknown) => T[] | undefined,
  ): Promise<Dhis2Read<T[]>> {
    // No keys, no request: an empty `in:[]` filter would be a pointless round trip.
    const unique = [...new Set(keys)];
    const values: T[] = [];
    let durationMs = 0;
    for (let i = 0; i < unique.length; i += FILTER_CHUNK) {
      const chunk = await read(pathFor(unique.slice(i, i + FILTER_CHUNK)), extract);
      durationMs += chunk.durationMs;
      if (!chunk.ok) return { ...chunk, durationMs };
      values.push(...chunk.value);
    }
    return { ok: true, value: values, httpStatus: 200, durationMs };
  }

  const importQuery = buildImportQuery(opts.importOptions ?? {});

  return {
    apiUrl,
    postDataValueSets: (payload) =>
      send("POST", `/dataValueSets${importQuery}`, JSON.stringify(payload)),
    postCompleteDataSetRegistrations: (registrations) =>
      send(
        "POST",
        "/completeDataSetRegistrations",
        JSON.stringify({ completeDataSetRegistrations: registrations }),
      ),
    getSystemInfo: () => read("/system/info", (b) => (isRecord(b) ? (b as SystemInfo) : undefined)),
    getMe: () =>
      read(
        "/me?fields=id,username,authorities,organisationUnits[id,path],dataSets,programs",
        (b) => (isRecord(b) && typeof b.id === "string" ? (b as unknown as Dhis2Me) : undefined),
      ),
    async getDataSet(id) {
      const path = `/dataSets/${encodeURIComponent(id)}?fields=${
        encodeURIComponent(DATA_SET_FIELDS)
      }`;
      const result = await send("GET", path, undefined, opts.connectTimeoutMs);
      if (result.kind === "response" && result.httpStatus === 404) {
        return { ok: true, value: null, httpStatus: 404, durationMs: result.durationMs };
      }
      return toRead(
        result,
        (b) => isRecord(b) && typeof b.id === "string" ? (b as unknown as DataSetMeta) : undefined,
      );
    },
    getDataElements: (keys, by = "id") =>
      readChunked(
        keys,
        (chunk) => listPath("dataElements", by, chunk, DATA_ELEMENT_FIELDS),
        (b) => listOf<DataElementMeta>(b, "dataElements"),
      ),
    getOrganisationUnits: (keys, by = "id") =>
      readChunked(
        keys,
        (chunk) => listPath("organisationUnits", by, chunk, "id,code,name,path,level"),
        (b) => listOf<OrgUnitMeta>(b, "organisationUnits"),
      ),
    getCategoryOptionCombos: (categoryComboId) =>
      read(
        `/categoryOptionCombos?filter=${
          encodeURIComponent(`categoryCombo.id:eq:${categoryComboId}`)
        }&fields=id,code,name&paging=false`,
        (b) => listOf<{ id: string; code?: string; name?: string }>(b, "categoryOptionCombos"),
      ),
  };
}

function buildImportQuery(options: ImportOptions): string {
  const params = new URLSearchParams();
  for (const key of Object.keys(options).sort() as Array<keyof ImportOptions>) {
    const value = options[key];
    if (value !== undefined) params.set(key, String(value));
  }
  const query = params.toString();
  return query ? `?${query}` : "";
}

function listPath(collection: string, by: "id" | "code", keys: string[], fields: string): string {
  const filter = encodeURIComponent(`${by}:in:[${keys.join(",")}]`);
  return `/${collection}?filter=${filter}&fields=${encodeURIComponent(fields)}&paging=false`;
}

function listOf<T>(body: unknown, key: string): T[] | undefined {
  return isRecord(body) && Array.isArray(body[key]) ? (body[key] as T[]) : undefined;
}

function toRead<T>(result: Dhis2Result, extract: (body: unknown) => T | undefined): Dhis2Read<T> {
  if (result.kind === "transport_error") {
    return {
      ok: false,
      error: result.error,
      timedOut: result.timedOut,
      durationMs: result.durationMs,
    };
  }
  const { httpStatus, durationMs } = result;
  if (httpStatus === 200) {
    const value = extract(result.body);
    if (value !== undefined) return { ok: true, value, httpStatus, durationMs };
    return {
      ok: false,
      error: "DHIS2 answered 200 with an unexpected body",
      httpStatus,
      timedOut: false,
      durationMs,
    };
  }
  const message = isRecord(result.body) && typeof result.body.message === "string"
    ? `: ${result.body.message.slice(0, 200)}`
    : "";
  return {
    ok: false,
    error: `DHIS2 answered HTTP ${httpStatus}${message}`,
    httpStatus,
    timedOut: false,
    durationMs,
  };
}

function parseJson(text: string): unknown {
  if (text.trim() === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
