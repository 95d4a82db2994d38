/**
 * Storing a checked tracker bundle: the submission, its one `tracker` delivery and its objects
 * commit together, so a caller gets UIDs only for what is durably queued. Shared by the three
 * tracker routes (raw bundle, coded events, a person with attributes by code).
 */
import type { Principal } from "../auth/principal.ts";
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import { conflict } from "../http/errors.ts";
import type { Logger } from "../logs/logger.ts";
import { enqueue } from "../queue/queries.ts";
import type { FlatBundle, TrackerObject } from "./bundle.ts";
import { trackerOrderingKey } from "./ordering.ts";
import { enrollmentOwners, insertObjects, objectsOfSubmission, TRACKER } from "./queries.ts";

export interface IntakeDeps {
  config: Readonly<Config>;
  sql: Sql;
  log: Logger;
  wakeWorker: () => void;
}

export interface StoredTracker {
  inserted: boolean;
  id: number;
  taskId: string;
  status: string;
  objects: Array<{ type: string; uid: string; path: string; generated: boolean }>;
}

export async function storeTracker(
  deps: IntakeDeps,
  principal: Principal,
  input: {
    requestJson: string;
    requestHash: string;
    idempotencyKey: string | null;
    bundle: FlatBundle;
    objects: TrackerObject[];
  },
): Promise<StoredTracker> {
  const { bundle, objects } = input;
  const owners = await enrollmentOwners(
    deps.sql,
    [...new Set(objects.filter((o) => o.enrollment && !o.trackedEntity).map((o) => o.enrollment!))],
  );
  const firstOf = (key: string) =>
    [...bundle.trackedEntities, ...bundle.enrollments, ...bundle.events]
      .map((x) => x[key]).find((v): v is string => typeof v === "string") ?? "";
  const stored = await deps.sql.begin(async (tx) => {
    const s = await enqueue(tx, {
      userUid: principal.uid,
      username: principal.username,
      sourceName: principal.sourceName,
      idempotencyKey: input.idempotencyKey,
      requestHash: input.requestHash,
      orgUnit: firstOf("orgUnit"),
      orgUnitName: null,
      // Tracker data has no period; the program stands where aggregate keeps its data set.
      period: "",
      dataSet: firstOf("program"),
      kind: TRACKER,
      requestJson: input.requestJson,
      payload: bundle,
      // The request path of each object, in the payload's flat order (DHIS2 errors name UIDs).
      codes: objects.map((o) => o.path),
      unmappedCodes: [],
      deliveries: [{
        destination: "default",
        kind: TRACKER,
        orderingKey: trackerOrderingKey(objects, owners),
        maxAttempts: deps.config.server.max_retries + 1,
      }],
    });
    if (s.inserted) await insertObjects(tx, s.id, objects);
    return s;
  });
  if (!stored.inserted && stored.requestHash !== input.requestHash) {
    throw conflict(
      "this Idempotency-Key was already used with a different request body",
      { submission_id: stored.id, task_id: stored.taskId },
    );
  }
  if (stored.inserted) {
    deps.wakeWorker();
    // UIDs and counts only: a tracker payload names people (never in a log line).
    deps.log.info("tracker submission queued", {
      submissionId: stored.id,
      taskId: stored.taskId,
      user: principal.username,
      objects: objects.length,
    });
    return {
      inserted: true,
      id: stored.id,
      taskId: stored.taskId,
      status: stored.status,
      objects: objects.map(({ type, uid, path, generated }) => ({ type, uid, path, generated })),
    };
  }
  const rows = await objectsOfSubmission(deps.sql, stored.id);
  return {
    inserted: false,
    id: stored.id,
    taskId: stored.taskId,
    status: stored.status,
    objects: rows.map(({ type, uid, path, generated }) => ({ type, uid, path, generated })),
  };
}
