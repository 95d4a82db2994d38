/**
 * Shared set-up for the submission and queue tests: the whole app with a fixed mapping table
 * (the simulator's seed metadata), a worker against a simulator, and helpers that wait on the
 * worker's signals instead of sleeping.
 */
import type { Config } from "../../src/config/config.ts";
import { loadConfig } from "../../src/config/config.ts";
import { AGGREGATE, aggregateKind } from "../../src/aggregate/kind.ts";
import { aggregateOrderingKey } from "../../src/aggregate/ordering_key.ts";
import { createDhis2Client, type Dhis2Client } from "../../src/dhis2/client.ts";
import {
  DEFAULT_PASSWORD,
  DEFAULT_USERNAME,
  type Simulator,
} from "../../src/simulator/simulator.ts";
import { createApp } from "../../src/http/app.ts";
import { captureLogger } from "../../src/logs/logger.ts";
import { CircuitBreakers } from "../../src/queue/circuit_breaker.ts";
import { Wakeup } from "../../src/queue/wakeup.ts";
import { type AttemptEvent, Worker, type WorkerOptions } from "../../src/queue/worker.ts";
import { staticMappingLookup } from "../../src/mappings/lookup.ts";
import type { Db, Sql } from "../../src/db/db.ts";
import { type DeliveryUpdate, enqueue } from "../../src/queue/queries.ts";
import { createTestApp, type TestApp } from "./app.ts";
import type { TestDb } from "./pg.ts";

export const ORG_UNIT = "DiszpKrYNg8";
export const DATA_SET = "pBOMPrpg1QX";

/** Source "default" codes → the simulator's seed data elements. */
export const MAPPINGS = staticMappingLookup(
  {
    default: {
      ANC1: { dataElement: "f7n9E0hX8qk" },
      MAL_M: { dataElement: "deMalCases1", categoryOptionCombo: "cocMale0001" },
      MAL_F: { dataElement: "deMalCases1", categoryOptionCombo: "cocFemale01" },
      WEIGHT: { dataElement: "deWeightKg1" },
      NETS: { dataElement: "deNetsOk001" },
      REMARKS: { dataElement: "deRemarks01" },
      // Mapped, but to an element the simulator does not know: DHIS2 refuses this value.
      GHOST: { dataElement: "deGhost0001" },
    },
    other: { ANC1: { dataElement: "deStockOut1" } },
  },
  { default: { "NGELEHUN": ORG_UNIT } },
);

export interface SubmissionsTestApp extends TestApp {
  /** How often the app woke the worker. */
  wakes(): number;
  post(
    body: unknown,
    opts?: { as?: "admin" | "submitter" | "viewer"; headers?: Record<string, string> },
  ): Promise<Response>;
}

export async function createSubmissionsApp(
  db: TestDb,
  env: Record<string, string> = {},
): Promise<SubmissionsTestApp> {
  const t = await createTestApp(db, { env });
  const counter = { wakes: 0 };
  const app = createApp({ ...t.deps, mappings: MAPPINGS, wakeWorker: () => counter.wakes++ });
  const out = Object.assign(t, {
    app,
    wakes: () => counter.wakes,
    post: (
      body: unknown,
      opts: { as?: "admin" | "submitter" | "viewer"; headers?: Record<string, string> } = {},
    ) =>
      app.request("/api/v3/aggregate", {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          ...t.users[opts.as ?? "submitter"].headers.token,
          ...opts.headers,
        },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
  });
  return out as SubmissionsTestApp;
}

export function testConfig(env: Record<string, string> = {}): Readonly<Config> {
  const loaded = loadConfig({ env });
  if (!loaded.config) throw new Error(loaded.problems.join("; "));
  return loaded.config;
}

/** Collects attempt events and lets a test wait until a predicate over them holds. */
export class AttemptLog {
  readonly events: AttemptEvent[] = [];
  #waiters: Array<{ check: () => boolean; resolve: () => void }> = [];

  push = (e: AttemptEvent): void => {
    this.events.push(e);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  };

  /** Resolves when `check` holds; rejects after `ms` (a hung worker fails the test, not CI). */
  until(check: (events: AttemptEvent[]) => boolean, ms = 20_000): Promise<void> {
    if (check(this.events)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out; events so far: ${JSON.stringify(this.events)}`)),
        ms,
      );
      this.#waiters.push({
        check: () => check(this.events),
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

export function simulatorClient(sim: Simulator, timeoutMs = 10_000) {
  return createDhis2Client({
    baseUrl: sim.url,
    auth: { method: "basic", username: DEFAULT_USERNAME, password: DEFAULT_PASSWORD },
    connectTimeoutMs: timeoutMs,
    timeoutMs,
  });
}

/** What a test may swap in the aggregate kind a test worker delivers with. */
export interface TestKindOptions {
  client?: Pick<Dhis2Client, "postDataValueSets" | "apiUrl">;
  saveResponse?: boolean;
}

/**
 * A worker against the simulator with test-friendly defaults; override anything. `client` and
 * `saveResponse` build its aggregate kind (the client's URL is the breaker's key).
 */
export function testWorker(
  sql: Sql,
  sim: Simulator,
  attempts: AttemptLog,
  opts: Partial<WorkerOptions> & TestKindOptions = {},
): Worker {
  const { client = simulatorClient(sim), saveResponse = true, ...rest } = opts;
  return new Worker({
    sql,
    log: captureLogger("info").log,
    kinds: [aggregateKind({ client, saveResponse })],
    destination: client.apiUrl,
    wakeup: new Wakeup(),
    maxConcurrent: 4,
    leaseSeconds: 60,
    pollIntervalMs: 200,
    backoff: { baseSeconds: 1, maxSeconds: 60, jitter: 0.2 },
    breakers: new CircuitBreakers(),
    onAttempt: attempts.push,
    ...rest,
  });
}

/** A valid submission body; `values` replaces dataValues. */
export function body(values: Record<string, unknown> = { ANC1: 12 }, extra = {}) {
  return { orgUnit: ORG_UNIT, period: "202401", dataSet: DATA_SET, dataValues: values, ...extra };
}

/** Makes every waiting delivery due now (skips the retry delay without touching its logic). */
export async function fastForward(sql: Sql): Promise<void> {
  await sql`update deliveries set run_at = now() where status in ('queued', 'retrying')`;
}

/** A distinct monthly period per number (200001 onwards, 1,200 of them before they repeat). */
export function periodOf(i: number): string {
  const n = ((i % 1200) + 1200) % 1200;
  return `${2000 + Math.floor(n / 12)}${String(n % 12 + 1).padStart(2, "0")}`;
}

/**
 * Stores one submission the way the route does, with `marker` as its only value. Rows with the
 * same period share an ordering key (one org unit here) and are delivered one after another,
 * so a number marker gets its own period unless one is given.
 */
export function insertOne(
  sql: Db,
  marker: number | string,
  period = typeof marker === "number" ? periodOf(marker) : "202401",
  maxAttempts = 4,
) {
  return enqueue(sql, {
    userUid: "uTester0001",
    username: "tester",
    sourceName: "default",
    idempotencyKey: null,
    requestHash: String(marker),
    orgUnit: ORG_UNIT,
    orgUnitName: null,
    period,
    dataSet: DATA_SET,
    kind: AGGREGATE,
    requestJson: JSON.stringify({ dataValues: { ANC1: marker } }),
    payload: {
      dataSet: DATA_SET,
      period,
      orgUnit: ORG_UNIT,
      dataValues: [{ dataElement: "f7n9E0hX8qk", value: String(marker) }],
    },
    codes: ["ANC1"],
    unmappedCodes: [],
    deliveries: [{
      destination: "default",
      kind: AGGREGATE,
      orderingKey: aggregateOrderingKey(ORG_UNIT, period),
      maxAttempts,
    }],
  });
}

/** A delivery's update for a plain success of one value (recordAttempt). */
export const DELIVERED: DeliveryUpdate = {
  status: "delivered",
  runAt: null,
  lastError: null,
  credentialProblem: false,
  httpStatus: 200,
  dhis2Status: "SUCCESS",
  counts: { imported: 1, updated: 0, ignored: 0, deleted: 0 },
  conflicts: null,
  response: null,
};
