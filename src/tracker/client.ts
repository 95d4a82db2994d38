/**
 * The DHIS2 calls the tracker kind makes (reference §4): POST /api/tracker sync or async, the
 * job's notifications and report, and reading an object back by UID. Like dhis2/client.ts it
 * never throws for an HTTP status and its errors never carry the password or token.
 */
import {
  authorizationHeader,
  type Dhis2Auth,
  type Dhis2Result,
  normaliseApiUrl,
  RAW_BODY_LIMIT,
} from "../dhis2/client.ts";
import type { FlatBundle, TrackerType } from "./bundle.ts";

export interface TrackerImportOptions {
  importStrategy: "CREATE_AND_UPDATE" | "CREATE" | "UPDATE";
  atomicMode: "ALL" | "OBJECT";
  /** VALIDATE: DHIS2 validates and stores nothing (dry runs, tracker/dry_run.ts). */
  importMode?: "COMMIT" | "VALIDATE";
}

export interface TrackerClient {
  readonly apiUrl: string;
  post(bundle: FlatBundle, async: boolean): Promise<Dhis2Result>;
  /** `GET /tracker/jobs/{id}`: notifications, newest first; `[]` for a job DHIS2 does not know. */
  jobNotifications(jobId: string): Promise<Dhis2Result>;
  /** `GET /tracker/jobs/{id}/report`: the ImportReport; 404 while running and once forgotten. */
  jobReport(jobId: string): Promise<Dhis2Result>;
  /** `GET /tracker/<collection>/{uid}`: 200 with the object, 404 when it is not there. */
  readBack(type: TrackerType, uid: string): Promise<Dhis2Result>;
}

export interface TrackerClientOptions {
  baseUrl: string;
  /** A function is asked before every request: credentials rotated by a reload (SIGHUP). */
  auth: Dhis2Auth | (() => Dhis2Auth);
  timeoutMs: number;
  import: TrackerImportOptions;
  fetch?: typeof fetch;
}

const READ_PATH: Record<TrackerType, string> = {
  TRACKED_ENTITY: "trackedEntities",
  ENROLLMENT: "enrollments",
  EVENT: "events",
  RELATIONSHIP: "relationships",
};

export function createTrackerClient(opts: TrackerClientOptions): TrackerClient {
  const apiUrl = normaliseApiUrl(opts.baseUrl);
  const doFetch = opts.fetch ?? fetch;
  const authOf = typeof opts.auth === "function" ? opts.auth : () => opts.auth as Dhis2Auth;
  let current: { auth: Dhis2Auth; header: string } | undefined;
  const authHeader = () => {
    const auth = authOf();
    if (current?.auth !== auth) current = { auth, header: authorizationHeader(auth) };
    return current.header;
  };

  async function send(method: "GET" | "POST", path: string, body?: string): Promise<Dhis2Result> {
    const started = performance.now();
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, opts.timeoutMs);
    const headers: Record<string, string> = {
      Authorization: authHeader(),
      Accept: "application/json",
    };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const res = await doFetch(`${apiUrl}${path}`, {
        method,
        headers,
        body,
        signal: controller.signal,
        redirect: "manual",
      });
      const rawBody = await res.text();
      const result: Dhis2Result = {
        kind: "response",
        httpStatus: res.status,
        body: parse(rawBody),
        rawBody: rawBody.slice(0, RAW_BODY_LIMIT),
        durationMs: Math.round(performance.now() - started),
      };
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location) result.location = location;
      return result;
    } catch (err) {
      const what = `${method} ${path.split("?")[0]}`;
      return {
        kind: "transport_error",
        // The message of a fetch failure names the host, never the Authorization header.
        error: timedOut
          ? `${what} timed out after ${opts.timeoutMs} ms`
          : `${what} failed: ${err instanceof Error ? err.message : String(err)}`,
        timedOut,
        durationMs: Math.round(performance.now() - started),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  const query = (async: boolean) =>
    `?async=${async}&importStrategy=${opts.import.importStrategy}` +
    `&atomicMode=${opts.import.atomicMode}&reportMode=ERRORS` +
    (opts.import.importMode === "VALIDATE" ? "&importMode=VALIDATE" : "");

  return {
    apiUrl,
    post: (bundle, async) => send("POST", `/tracker${query(async)}`, JSON.stringify(bundle)),
    jobNotifications: (id) => send("GET", `/tracker/jobs/${encodeURIComponent(id)}`),
    jobReport: (id) => send("GET", `/tracker/jobs/${encodeURIComponent(id)}/report`),
    readBack: (type, uid) =>
      send("GET", `/tracker/${READ_PATH[type]}/${encodeURIComponent(uid)}?fields=*`),
  };
}

function parse(text: string): unknown {
  if (text.trim() === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
