/**
 * The simulator's `/api/tracker` (reference §4): sync and async import, job notifications and
 * reports, read-back by UID. Like DHIS2, imported data outlives a restart (the store is passed
 * in and may be shared by the next simulator on the same port) but job reports live only in
 * this instance's memory and are evicted once `maxJobReports` newer jobs exist; an async job
 * still running when the simulator stops never runs.
 */
import { type Dhis2Version, json, minor, webMessage } from "./simulator_web.ts";
import type { SimTrackerMetadata } from "./simulator_tracker_metadata.ts";
import {
  type Obj,
  type TrackerError,
  type TrackerStore,
  validateEnrollment,
  validateEvent,
  validateRelationship,
  validateTrackedEntity,
  type ValidationContext,
} from "./simulator_tracker_validate.ts";

export interface TrackerJobOptions {
  /** How long an async job runs before it imports; default 50 ms. */
  delayMs?: number;
  /** Jobs wait for `runJobs()` instead of a timer. */
  hold?: boolean;
  /** Job reports kept (DHIS2 keeps a few hundred per job type); default 300. */
  maxJobReports?: number;
}

interface Job {
  id: string;
  created: Date;
  done: boolean;
  report?: Obj;
  run: () => void;
  timer?: ReturnType<typeof setTimeout>;
}

export interface SimTracker {
  store: TrackerStore;
  metadata: SimTrackerMetadata;
  options: TrackerJobOptions;
  /** Job ids this instance knows, oldest first. */
  jobIds(): string[];
  /** Runs every held job now. */
  runJobs(): void;
  /** Cancels pending timers (the simulator stopped: running jobs are lost). */
  stop(): void;
}

const TYPES = [
  ["trackedEntities", "TRACKED_ENTITY", "trackedEntity"],
  ["enrollments", "ENROLLMENT", "enrollment"],
  ["events", "EVENT", "event"],
  ["relationships", "RELATIONSHIP", "relationship"],
] as const;

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
function uid(): string {
  const all = LETTERS + "0123456789";
  let out = LETTERS[Math.floor(Math.random() * 52)];
  for (let i = 0; i < 10; i++) out += all[Math.floor(Math.random() * 62)];
  return out;
}

export function createSimTracker(
  store: TrackerStore,
  metadata: SimTrackerMetadata,
  options: TrackerJobOptions,
): SimTracker & { jobs: Map<string, Job> } {
  const jobs = new Map<string, Job>();
  return {
    store,
    metadata,
    options,
    jobs,
    jobIds: () => [...jobs.keys()],
    runJobs: () => {
      for (const j of jobs.values()) if (!j.done) j.run();
    },
    stop: () => {
      for (const j of jobs.values()) clearTimeout(j.timer);
    },
  };
}

export interface TrackerRequest {
  req: Request;
  url: URL;
  path: string;
  rawBody: string;
  version: Dhis2Version;
  apiRoot: string;
  username: string;
  authorities: string[];
  orgUnits: string[];
}

/** Answers `/tracker…`, or null for another path. */
export function handleTracker(
  sim: ReturnType<typeof createSimTracker>,
  r: TrackerRequest,
): Response | null {
  if (!r.path.startsWith("/tracker")) return null;
  const v = minor(r.version);
  if (r.path === "/tracker" && r.req.method === "POST") return post(sim, r);
  if (r.req.method !== "GET") {
    return webMessage(405, "ERROR", `Request method '${r.req.method}' is not supported`);
  }
  const job = /^\/tracker\/jobs\/([^/]+)(\/report)?$/.exec(r.path);
  if (job) {
    const j = sim.jobs.get(job[1]);
    if (!job[2]) return json(j ? notifications(j) : []);
    if (!j?.done || !j.report) {
      return webMessage(
        404,
        "ERROR",
        v >= 40
          ? `Summary for job ${job[1]} does not exist`
          : `Object not found for uid: ${job[1]}`,
      );
    }
    return json(j.report);
  }
  const read = /^\/tracker\/(trackedEntities|enrollments|events|relationships)\/([^/]+)$/.exec(
    r.path,
  );
  if (read) {
    const found = sim.store[read[1] as keyof TrackerStore].get(read[2]);
    if (!found) {
      const name = TYPES.find((t) => t[0] === read[1])![1];
      return webMessage(404, "ERROR", `${name} with id ${read[2]} could not be found.`);
    }
    return json(found);
  }
  return webMessage(404, "ERROR", `No endpoint ${r.path} in the DHIS2 simulator`);
}

function post(sim: ReturnType<typeof createSimTracker>, r: TrackerRequest): Response {
  let body: Obj;
  try {
    body = JSON.parse(r.rawBody);
  } catch (err) {
    return webMessage(400, "ERROR", `JSON parse error: ${(err as Error).message}`);
  }
  const q = r.url.searchParams;
  const params = {
    atomicMode: q.get("atomicMode") ?? "ALL",
    importStrategy: q.get("importStrategy") ?? "CREATE_AND_UPDATE",
  };
  const run = () => importBundle(sim, r, body, params);
  // 2.38–2.41 pick the sync handler only for a literal async=false; 2.42's default is true too.
  if (q.get("async") === "false") {
    const report = run();
    return json(report, report.status === "ERROR" ? 409 : 200);
  }
  const id = uid();
  const job: Job = { id, created: new Date(), done: false, run: () => {} };
  job.run = () => {
    if (job.done) return;
    clearTimeout(job.timer);
    job.report = run();
    job.done = true;
  };
  sim.jobs.set(id, job);
  const max = sim.options.maxJobReports ?? 300;
  for (const old of sim.jobs.keys()) {
    if (sim.jobs.size <= max) break;
    clearTimeout(sim.jobs.get(old)!.timer);
    sim.jobs.delete(old);
  }
  if (!sim.options.hold) job.timer = setTimeout(job.run, sim.options.delayMs ?? 50);
  const location = `${r.apiRoot}/tracker/jobs/${id}`;
  const response: Obj = { id, location };
  if (minor(r.version) !== 41) response.responseType = "TrackerJob";
  return webMessage(200, "OK", "Tracker job added", { response, headers: { Location: location } });
}

function notifications(j: Job): Obj[] {
  const base = { level: "INFO", category: "TRACKER_IMPORT_JOB", uid: uid() };
  const started = {
    ...base,
    time: j.created.toISOString(),
    message: "Tracker import started",
    completed: false,
  };
  if (!j.done) {
    return [{
      ...base,
      time: new Date().toISOString(),
      message: "Running Validation",
      completed: false,
    }, started];
  }
  const stats = (j.report?.stats ?? {}) as Obj;
  return [{
    ...base,
    time: new Date().toISOString(),
    message: `Import complete with status ${j.report?.status}, ${stats.created} created, ` +
      `${stats.updated} updated, ${stats.deleted} deleted, ${stats.ignored} ignored`,
    completed: true,
  }, started];
}

function importBundle(
  sim: ReturnType<typeof createSimTracker>,
  r: TrackerRequest,
  body: Obj,
  params: { atomicMode: string; importStrategy: string },
): Obj {
  const list = (k: string) => (Array.isArray(body[k]) ? body[k] as Obj[] : []);
  // Nested payloads are flattened first, as DHIS2 does (§4.1).
  const flat: Record<string, Obj[]> = {
    trackedEntities: [],
    enrollments: [],
    events: [],
    relationships: [],
  };
  for (const te of list("trackedEntities")) {
    te.trackedEntity ??= uid();
    const { enrollments, ...rest } = te;
    flat.trackedEntities.push(rest);
    for (const en of (Array.isArray(enrollments) ? enrollments : []) as Obj[]) {
      flat.enrollments.push({ ...en, trackedEntity: te.trackedEntity });
    }
  }
  flat.enrollments.push(...list("enrollments"));
  for (const en of [...flat.enrollments]) {
    en.enrollment ??= uid();
    const { events } = en;
    delete en.events;
    for (const ev of (Array.isArray(events) ? events : []) as Obj[]) {
      flat.events.push({ program: en.program, ...ev, enrollment: en.enrollment });
    }
  }
  flat.events.push(...list("events"));
  for (const ev of flat.events) ev.event ??= uid();
  flat.relationships.push(...list("relationships"));
  for (const rel of flat.relationships) rel.relationship ??= uid();

  const ctx: ValidationContext = {
    md: sim.metadata,
    orgUnits: new Set(r.orgUnits),
    store: sim.store,
    bundleTes: new Set(flat.trackedEntities.map((t) => String(t.trackedEntity))),
    bundleEnrollments: new Map(flat.enrollments.map((e) => [String(e.enrollment), e])),
    canUncomplete: r.authorities.some((a) => a === "ALL" || a === "F_UNCOMPLETE_EVENT"),
    username: r.username,
  };
  const validators = [
    validateTrackedEntity,
    validateEnrollment,
    validateEvent,
    validateRelationship,
  ];
  const errors: TrackerError[] = [];
  const bad = new Set<string>();
  TYPES.forEach(([key, type, uidKey], i) => {
    for (const o of flat[key]) {
      let found = validators[i](ctx, o);
      // An object whose parent fails cannot be persisted either (E5000).
      const parent = type === "ENROLLMENT"
        ? o.trackedEntity
        : type === "EVENT"
        ? o.enrollment
        : null;
      if (!found.length && typeof parent === "string" && bad.has(parent)) {
        const pType = type === "ENROLLMENT" ? "TRACKED_ENTITY" : "ENROLLMENT";
        found = [{
          errorCode: "E5000",
          message: `"${type}" \`${
            o[uidKey]
          }\` cannot be persisted because "${pType}" \`${parent}\` referenced by it cannot be persisted.`,
          trackerType: type,
          uid: String(o[uidKey]),
        }];
      }
      if (found.length) bad.add(String(o[uidKey]));
      errors.push(...found);
    }
  });
  const v = minor(r.version);
  const errorReports = errors.map((e) => v >= 41 ? { ...e, args: [] } : e);
  const total = TYPES.reduce((n, [k]) => n + flat[k].length, 0);
  if (errors.length && params.atomicMode !== "OBJECT") {
    return {
      status: "ERROR",
      validationReport: { errorReports, warningReports: [] },
      stats: { created: 0, updated: 0, deleted: 0, ignored: total, total },
    };
  }
  const typeReportMap: Obj = {};
  const all = { created: 0, updated: 0, deleted: 0, ignored: 0, total: 0 };
  for (const [key, type, uidKey] of TYPES) {
    const stats = { created: 0, updated: 0, deleted: 0, ignored: 0, total: flat[key].length };
    const objectReports: Obj[] = [];
    flat[key].forEach((o, index) => {
      const id = String(o[uidKey]);
      if (bad.has(id)) return void stats.ignored++;
      const map = sim.store[key];
      if (map.has(id)) stats.updated++;
      else stats.created++;
      map.set(id, structuredClone({ ...map.get(id), ...o }));
      objectReports.push({
        trackerType: type,
        uid: id,
        ...(v < 41 ? { index } : {}),
        errorReports: [],
      });
    });
    for (const k of Object.keys(all) as Array<keyof typeof all>) all[k] += stats[k];
    if (flat[key].length) typeReportMap[type] = { trackerType: type, stats, objectReports };
  }
  const bundleReport: Obj = { typeReportMap };
  if (v < 40) bundleReport.status = errors.length ? "ERROR" : "OK";
  return {
    status: errors.length ? "ERROR" : "OK",
    validationReport: { errorReports, warningReports: [] },
    stats: all,
    bundleReport,
  };
}
