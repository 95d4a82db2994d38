/**
 * A fake DHIS2 (2.38–2.43) for tests and the demo: the endpoints the gateway uses, answered
 * the way reference §10 asks, plus injectable faults. Runs in-process:
 *
 *   const sim = await startSimulator(); … await sim.stop();
 *
 * or standalone: `deno run --allow-net src/simulator/simulator.ts --port 8089 [--dhis2-version 2.41]
 * [--username admin --password district] [--token d2p_…]` prints its URL.
 */
import { authenticate, generatePat, type SimToken, type SimUser } from "./simulator_auth.ts";
import {
  importCompleteRegistrations,
  type RegistrationStore,
  type StoredRegistration,
} from "./simulator_completion.ts";
import { type CostModel, type CostStats, ImportCost } from "./simulator_cost.ts";
import { record, type RecordedRequest, sizeOf } from "./simulator_recorded.ts";
import {
  type DataValueStore,
  importDataValueSets,
  type StoredDataValue,
} from "./simulator_import.ts";
import {
  defaultMetadata,
  metadataResponse,
  ouView,
  type SimMetadata,
} from "./simulator_metadata.ts";
import { parseFields, project } from "./simulator_query.ts";
import {
  createSimTracker,
  handleTracker,
  type SimTracker,
  type TrackerJobOptions,
} from "./simulator_tracker.ts";
import { defaultTrackerMetadata } from "./simulator_tracker_metadata.ts";
import { newTrackerStore, type TrackerStore } from "./simulator_tracker_validate.ts";
import {
  type Dhis2Version,
  json,
  minor,
  releaseOf,
  SIMULATED_VERSIONS,
  webMessage,
} from "./simulator_web.ts";

export type {
  CostModel,
  CostStats,
  Dhis2Version,
  RecordedRequest,
  SimMetadata,
  SimToken,
  SimTracker,
  SimUser,
  StoredDataValue,
  StoredRegistration,
  TrackerStore,
};
export { newTrackerStore };
export { generatePat };

/**
 * One injected misbehaviour. It applies to the next `times` requests (default 1; `Infinity`
 * until cleared) matching `path` (a prefix of the URL path) and `method`. Effects, in order:
 * `timeout` never answers until `stop()`; `delayMs` waits first; `reset` aborts the connection
 * (status line sent, then the body fails – the abruptest close Deno.serve offers; the client
 * sees a network error); `status`/`body`/`headers` answer that instead of the real endpoint.
 * A fault with only `delayMs` then serves the request normally.
 */
export interface Fault {
  path?: string;
  method?: string;
  times?: number;
  timeout?: boolean;
  delayMs?: number;
  reset?: boolean;
  /** Default 500, or 200 when only `body` is given. */
  status?: number;
  /**
   * A string is sent as is (HTML if it starts with `<`), anything else as JSON. A function is
   * called with the request's parsed JSON body (else its text) and its result sent the same way,
   * for replies that depend on what was posted (see `transientImportFailure`).
   */
  body?: unknown;
  headers?: Record<string, string>;
  /** Only requests whose parsed body this accepts (the others pass, using none of `times`). */
  when?: (body: unknown) => boolean;
}

export interface SimulatorOptions {
  hostname?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  version?: Dhis2Version;
  /**
   * A patch release of `version` (default: its late patch, FULL_VERSION): early ones lack
   * `rejectedIndexes` (2.38.x, 2.39.0–2.39.1, 2.40.0) and QuarterlyNov (to 2.38.3, 2.39.2, 2.40.0).
   */
  patch?: number;
  /** Default: admin/district with ALL, capturing at the hierarchy roots. */
  users?: Array<Partial<SimUser> & { username: string; password: string }>;
  tokens?: SimToken[];
  /** Added to the default seed (or used alone with `seedDefaults: false`). */
  metadata?: Partial<SimMetadata>;
  seedDefaults?: boolean;
  /** PAT checksum validation; default on from 2.41 (§1.2). */
  checksumValidation?: boolean;
  now?: () => Date;
  /** Tracker data (DHIS2's database): pass the previous one to simulate a restart. */
  trackerStore?: TrackerStore;
  /** Async tracker jobs: delay, held until `tracker.runJobs()`, how many reports are kept. */
  trackerJobs?: TrackerJobOptions;
  /**
   * What an import costs (simulator_cost.ts): `true` for the defaults, or some of them. Absent:
   * free, as tests want.
   */
  cost?: boolean | Partial<CostModel>;
  /** Keep every request in `received` (default true; a long benchmark turns it off). */
  recordRequests?: boolean;
}

export interface Simulator {
  /** Base URL without `/api`, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly port: number;
  readonly received: RecordedRequest[];
  readonly metadata: SimMetadata;
  readonly users: SimUser[];
  readonly tokens: SimToken[];
  readonly version: Dhis2Version;
  setVersion(version: Dhis2Version): void;
  injectFaults(faults: Fault[]): void;
  clearFaults(): void;
  /** Every stored value, soft-deleted ones included. */
  dataValues(): StoredDataValue[];
  /** /api/tracker's data, metadata and jobs (simulator_tracker.ts). */
  readonly tracker: SimTracker;
  /** Completion registrations received (POST /api/completeDataSetRegistrations). */
  registrations(): StoredRegistration[];
  /** The cost model in force and what it counted; null without one. */
  cost(): { model: CostModel; stats: CostStats } | null;
  stop(): Promise<void>;
}

export const DEFAULT_USERNAME = "admin";
export const DEFAULT_PASSWORD = "district";

const RESET = "simulated connection reset";

export function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  let version: Dhis2Version = opts.version ?? "2.41";
  let playing = releaseOf(version, opts.patch);
  const now = opts.now ?? (() => new Date());
  const metadata = defaultMetadataOr(opts);
  const users: SimUser[] =
    (opts.users ?? [{ username: DEFAULT_USERNAME, password: DEFAULT_PASSWORD }])
      .map((u, i) => ({ id: `simUser${String(i).padStart(4, "0")}`, authorities: ["ALL"], ...u }));
  const tokens = [...(opts.tokens ?? [])];
  const store: DataValueStore = new Map();
  const registrations: RegistrationStore = new Map();
  const received: RecordedRequest[] = [];
  const tracker = createSimTracker(
    opts.trackerStore ?? newTrackerStore(),
    defaultTrackerMetadata(),
    { ...opts.trackerJobs },
  );
  const cost = opts.cost ? new ImportCost(opts.cost === true ? {} : opts.cost) : null;
  let faults: Array<{ fault: Fault; remaining: number }> = [];
  let release!: () => void;
  const stopped = new Promise<void>((resolve) => (release = resolve));

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      stopped.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });

  function takeFault(method: string, path: string, body: unknown): Fault | undefined {
    const entry = faults.find(({ fault: f }) =>
      (!f.path || path.startsWith(f.path)) && (!f.method || f.method.toUpperCase() === method) &&
      (!f.when || f.when(body))
    );
    if (!entry) return undefined;
    if (--entry.remaining <= 0) faults = faults.filter((e) => e !== entry);
    return entry.fault;
  }

  async function applyFault(f: Fault, request: RecordedRequest): Promise<Response | null> {
    if (f.timeout) {
      await stopped;
      return new Response(null, { status: 503 });
    }
    if (f.delayMs) await sleep(f.delayMs);
    if (f.reset) {
      const broken = new ReadableStream({ start: (c) => c.error(new Error(RESET)) });
      return new Response(broken, { status: 200 });
    }
    if (f.status === undefined && f.body === undefined) return null;
    const status = f.status ?? (f.body === undefined ? 500 : 200);
    const body = typeof f.body === "function" ? f.body(request.body) : f.body;
    if (body === undefined || typeof body === "string") {
      const type = String(body ?? "").startsWith("<") ? "text/html" : "text/plain";
      return new Response(body ?? null, {
        status,
        headers: { "Content-Type": type, ...f.headers },
      });
    }
    return json(body, status, f.headers);
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const rawBody = await req.text();
    const t0 = performance.now();
    const recorded = record(req, url, rawBody, now());
    const parseMs = performance.now() - t0;
    if (opts.recordRequests !== false) received.push(recorded);
    const fault = takeFault(req.method, url.pathname, recorded.body);
    if (fault) {
      const faulty = await applyFault(fault, recorded);
      if (faulty) return faulty;
    }
    const costed = req.method === "POST" &&
      /\/(dataValueSets|completeDataSetRegistrations)\/?$/.test(url.pathname);
    if (cost && costed) {
      return cost.run(
        sizeOf(recorded.body),
        sleep,
        () => route(req, url, rawBody, recorded.body),
        undefined,
        parseMs,
      );
    }
    return route(req, url, rawBody, recorded.body);
  }

  /** `parsed`: rawBody as record() parsed it (the import need not parse 10,000 values twice). */
  function route(req: Request, url: URL, rawBody: string, parsed: unknown): Response {
    const match = /^\/api(?:\/(\d{2}))?(\/.*)?$/.exec(url.pathname);
    if (!match) return new Response("Not Found", { status: 404 });
    const apiVersion = match[1] ? Number(match[1]) : null;
    const path = (match[2] ?? "/").replace(/\/+$/, "") || "/";
    const auth = authenticate(req, {
      version,
      users,
      tokens,
      checksumValidation: opts.checksumValidation ?? minor(version) >= 41,
    });
    if (!auth.ok) return auth.response;
    const user = auth.user;
    const apiRoot = `${url.origin}/api${apiVersion ? `/${apiVersion}` : ""}`;
    const tracked = handleTracker(tracker, {
      req,
      url,
      path,
      rawBody,
      version,
      apiRoot,
      username: user.username,
      authorities: user.authorities,
      orgUnits: metadata.organisationUnits.map((o) => o.id),
    });
    if (tracked) return tracked;

    if (path === "/dataValueSets" && req.method === "POST") {
      if (!user.authorities.some((a) => a === "ALL" || a === "F_DATAVALUE_ADD")) {
        // 2.42's @RequiresAuthority names the authority (§1.3).
        const message = minor(version) >= 42
          ? "Access is denied, requires one Authority from [F_DATAVALUE_ADD]"
          : "Access is denied";
        return webMessage(403, "ERROR", message);
      }
      const type = req.headers.get("content-type") ?? "application/octet-stream";
      if (!/^application\/json\b/i.test(type)) {
        // DHIS2 also takes XML, ADX, CSV and PDF; the simulator speaks JSON only.
        return webMessage(415, "ERROR", `Content type '${type}' not supported`);
      }
      return importDataValueSets(rawBody, url.searchParams, {
        version,
        release: playing,
        metadata,
        store,
        user,
        // Versioned paths below 38 get the bare summary until 2.42 removed that (§3.4).
        plainResponse: apiVersion !== null && apiVersion < 38 && minor(version) < 42,
        now: now(),
      }, parsed);
    }
    if (path === "/completeDataSetRegistrations" && req.method === "POST") {
      return importCompleteRegistrations(rawBody, {
        version,
        release: playing,
        metadata,
        store: registrations,
        now: now(),
      });
    }
    if (req.method !== "GET") {
      return webMessage(405, "ERROR", `Request method '${req.method}' is not supported`);
    }
    if (path === "/system/ping") {
      return new Response("pong", { headers: { "Content-Type": "text/plain" } });
    }
    if (path === "/system/info") {
      return Response.json(fieldsOf(url, systemInfo(req, url, playing, now())));
    }
    if (path === "/me") return Response.json(fieldsOf(url, me(user, metadata)));
    const listed = metadataResponse(metadata, path, url, apiRoot);
    return listed ?? webMessage(404, "ERROR", `No endpoint ${path} in the DHIS2 simulator`);
  }

  const server = Deno.serve({
    hostname: opts.hostname ?? "127.0.0.1",
    port: opts.port ?? 0,
    onListen: () => {},
    onError: (err) => {
      if (!(err instanceof Error && err.message === RESET)) console.error("simulator:", err);
      return webMessage(500, "ERROR", err instanceof Error ? err.message : String(err));
    },
  }, handle);
  const port = server.addr.port;
  const host = server.addr.hostname.includes(":")
    ? `[${server.addr.hostname}]`
    : server.addr.hostname;

  return Promise.resolve({
    url: `http://${host}:${port}`,
    port,
    received,
    metadata,
    users,
    tokens,
    get version() {
      return version;
    },
    setVersion(v: Dhis2Version) {
      if (!SIMULATED_VERSIONS.includes(v)) throw new Error(`unsupported DHIS2 version ${v}`);
      version = v;
      playing = releaseOf(v);
    },
    injectFaults(list: Fault[]) {
      for (const fault of list) faults.push({ fault, remaining: fault.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    dataValues: () => [...store.values()].map((v) => ({ ...v })),
    tracker,
    registrations: () => [...registrations.values()].map((r) => ({ ...r })),
    cost: () => (cost ? { model: cost.model, stats: { ...cost.stats } } : null),
    async stop() {
      tracker.stop();
      release();
      await server.shutdown();
    },
  });
}

function defaultMetadataOr(opts: SimulatorOptions): SimMetadata {
  const base: SimMetadata = opts.seedDefaults === false
    ? {
      categoryCombos: [],
      categoryOptionCombos: [],
      dataElements: [],
      dataSets: [],
      organisationUnits: [],
    }
    : defaultMetadata();
  const extra = opts.metadata ?? {};
  for (const key of Object.keys(base) as Array<keyof SimMetadata>) {
    (base[key] as unknown[]).push(...(extra[key] ?? []));
  }
  return base;
}

function fieldsOf(url: URL, value: Record<string, unknown>) {
  return project(value, parseFields(url.searchParams.get("fields") ?? "*"));
}

/** `GET /api/system/info` (§7.3), the fields a non-superuser also sees. */
function systemInfo(req: Request, url: URL, release: string, now: Date) {
  return {
    contextPath: url.origin,
    userAgent: req.headers.get("user-agent") ?? undefined,
    calendar: "iso8601",
    dateFormat: "yyyy-mm-dd",
    serverDate: now.toISOString().replace("Z", ""),
    serverTimeZoneId: "Etc/UTC",
    version: release,
    revision: "simulator",
    systemId: "eed3d451-4ff5-4193-b951-ffcc68954299",
    systemName: "DHIS2 simulator",
    instanceBaseUrl: url.origin,
  };
}

/** `GET /api/me` (MeDto, §7.2/§7.3): `dataSets` and `programs` are plain UID lists. */
function me(user: SimUser, md: SimMetadata) {
  const roots = user.organisationUnits ??
    md.organisationUnits.filter((o) => !o.parent).map((o) => o.id);
  const units = md.organisationUnits.filter((o) => roots.includes(o.id)).map((o) => ouView(md, o));
  return {
    id: user.id,
    username: user.username,
    firstName: user.firstName ?? user.username,
    surname: user.surname ?? "Simulated",
    name: `${user.firstName ?? user.username} ${user.surname ?? "Simulated"}`,
    authorities: user.authorities,
    organisationUnits: units,
    dataViewOrganisationUnits: units,
    dataSets: md.dataSets.filter((s) => s.writable !== false).map((s) => s.id),
    programs: [],
    userRoles: [],
    userGroups: [],
    settings: {},
  };
}

function parseArgs(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith("--")) out[args[i].slice(2)] = args[i + 1] ?? "";
  }
  return out;
}

if (import.meta.main) {
  const args = parseArgs(Deno.args);
  // 2.40 plays the late patch; 2.40.0 that release.
  const asked = args["dhis2-version"] ?? args.version ?? "2.41";
  const [, major, patchText] = /^(2\.\d\d)(?:\.(\d{1,2}))?$/.exec(asked) ?? [];
  const version = major as Dhis2Version;
  if (!SIMULATED_VERSIONS.includes(version)) {
    console.error(
      `--dhis2-version must be one of ${
        SIMULATED_VERSIONS.join(", ")
      }, or one with a patch (2.40.0)`,
    );
    Deno.exit(2);
  }
  const patch = patchText === undefined ? undefined : Number(patchText);
  const username = args.username ?? DEFAULT_USERNAME;
  const sim = await startSimulator({
    hostname: args.hostname,
    port: Number(args.port ?? 8089),
    version,
    patch,
    users: [{ username, password: args.password ?? DEFAULT_PASSWORD }],
    tokens: args.token ? [{ token: args.token, username }] : [],
    // --cost, or any of --fixed-ms, --per-value-ms, --concurrency: a DHIS2 that costs time.
    cost: "cost" in args || "fixed-ms" in args || "per-value-ms" in args || "concurrency" in args
      ? {
        ...(args["fixed-ms"] ? { fixedMs: Number(args["fixed-ms"]) } : {}),
        ...(args["per-value-ms"] ? { perValueMs: Number(args["per-value-ms"]) } : {}),
        ...(args.concurrency ? { concurrency: Number(args.concurrency) } : {}),
      }
      : undefined,
  });
  console.log(sim.url);
  const shutdown = async () => {
    await sim.stop();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", shutdown);
  Deno.addSignalListener("SIGTERM", shutdown);
}
