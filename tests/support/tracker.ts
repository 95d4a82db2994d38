/**
 * Shared set-up for the tracker tests: a worker with the tracker kind against the simulator,
 * payload builders on the simulator's seed program, and a POST helper.
 */
import { aggregateKind } from "../../src/aggregate/kind.ts";
import type { Sql } from "../../src/db/db.ts";
import { captureLogger } from "../../src/logs/logger.ts";
import { CircuitBreakers } from "../../src/queue/circuit_breaker.ts";
import { Wakeup } from "../../src/queue/wakeup.ts";
import { Worker, type WorkerOptions } from "../../src/queue/worker.ts";
import {
  DEFAULT_PASSWORD,
  DEFAULT_USERNAME,
  type Simulator,
} from "../../src/simulator/simulator.ts";
import { createTrackerClient, type TrackerClient } from "../../src/tracker/client.ts";
import { trackerKind, type TrackerKindOptions } from "../../src/tracker/kind.ts";
import type { Principal } from "../../src/auth/principal.ts";
import type { Config } from "../../src/config/config.ts";
import { normaliseBundle } from "../../src/tracker/bundle.ts";
import { type StoredTracker, storeTracker } from "../../src/tracker/intake.ts";
import type { TestApp } from "./app.ts";
import { type AttemptLog, simulatorClient, testConfig } from "./submissions.ts";

export const OU = "DiszpKrYNg8";
export const PERSON = "nEenWmSyUEp";
export const PROGRAM = "IpHINAT79UW";
export const BIRTH = "A03MvHHogjR";
export const POSTNATAL = "ZzYYXq4fJie";
export const WEIGHT = "UXz7xuGCEhU";
export const FIRST_NAME = "w75KJ2mc4zz";

export function trackerClient(
  sim: Simulator,
  atomicMode: "ALL" | "OBJECT" = "ALL",
  timeoutMs = 10_000,
  username = DEFAULT_USERNAME,
  password = DEFAULT_PASSWORD,
): TrackerClient {
  return createTrackerClient({
    baseUrl: sim.url,
    auth: { method: "basic", username, password },
    timeoutMs,
    import: { importStrategy: "CREATE_AND_UPDATE", atomicMode },
  });
}

export function trackerWorker(
  sql: Sql,
  sim: Simulator,
  attempts: AttemptLog,
  opts: Partial<WorkerOptions> & { kind?: Partial<TrackerKindOptions> } = {},
): Worker {
  const { kind = {}, ...rest } = opts;
  const client = simulatorClient(sim);
  return new Worker({
    sql,
    log: captureLogger("info").log,
    kinds: [
      aggregateKind({ client, saveResponse: true }),
      trackerKind({
        sql,
        client: trackerClient(sim),
        saveResponse: true,
        asyncThreshold: 1000,
        jobPollMs: 100,
        jobTimeoutMs: 60_000,
        ...kind,
      }),
    ],
    destination: client.apiUrl,
    wakeup: new Wakeup(),
    maxConcurrent: 4,
    leaseSeconds: 60,
    pollIntervalMs: 100,
    backoff: { baseSeconds: 1, maxSeconds: 60, jitter: 0.2 },
    breakers: new CircuitBreakers(),
    onAttempt: attempts.push,
    ...rest,
  });
}

/** A person, enrolled in the child programme, with a birth event. */
export function person(
  name = "Jane",
  ids: { te?: string; en?: string; ev?: string } = {},
  event: Record<string, unknown> = {},
) {
  return {
    trackedEntities: [{
      ...(ids.te ? { trackedEntity: ids.te } : {}),
      trackedEntityType: PERSON,
      orgUnit: OU,
      attributes: [{ attribute: FIRST_NAME, value: name }],
      enrollments: [{
        ...(ids.en ? { enrollment: ids.en } : {}),
        program: PROGRAM,
        orgUnit: OU,
        enrolledAt: "2024-03-01",
        events: [{
          ...(ids.ev ? { event: ids.ev } : {}),
          programStage: BIRTH,
          orgUnit: OU,
          occurredAt: "2024-03-01",
          status: "ACTIVE",
          dataValues: [{ dataElement: WEIGHT, value: "3200" }],
          ...event,
        }],
      }],
    }],
  };
}

export function postTracker(
  t: TestApp,
  body: unknown,
  opts: { as?: "admin" | "submitter" | "viewer"; headers?: Record<string, string>; path?: string } =
    {},
): Promise<Response> {
  return Promise.resolve(t.app.request(opts.path ?? "/api/v3/tracker", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...t.users[opts.as ?? "submitter"].headers.token,
      ...opts.headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  }));
}

/** Stores a tracker payload the way POST /api/v3/tracker does, without HTTP. */
export async function insertTracker(
  sql: Sql,
  body: unknown,
  config: Readonly<Config> = testConfig(),
): Promise<StoredTracker> {
  const checked = normaliseBundle(body);
  if (!checked.ok) throw new Error(JSON.stringify(checked.problems));
  const principal = {
    userId: 0,
    uid: "uTester0001",
    username: "tester",
    role: "submitter",
    sourceName: "default",
    via: "token",
  } as Principal;
  return await storeTracker(
    { config, sql, log: captureLogger("info").log, wakeWorker: () => {} },
    principal,
    {
      requestJson: JSON.stringify(body),
      requestHash: crypto.randomUUID(),
      idempotencyKey: null,
      bundle: checked.bundle,
      objects: checked.objects,
    },
  );
}
