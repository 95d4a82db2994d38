/**
 * The old submission log as dhis2gw submissions: one submission, its `default` delivery and (when
 * the old service got an answer) one attempt per row, finished. Rows that never finished there
 * (their Asynq task lived only in Redis) and rows that failed become dead deliveries carrying the
 * payload today's mappings build, so an admin can requeue them.
 */
import { createHash } from "node:crypto";
import { AGGREGATE } from "../aggregate/kind.ts";
import { aggregateOrderingKey } from "../aggregate/ordering_key.ts";
import { buildPayload, type BuiltPayload, type PayloadSettings } from "../aggregate/payload.ts";
import { requestHash, validateAggregate } from "../aggregate/request.ts";
import type { TransactionSql } from "../db/db.ts";
import type { DataValueSetPayload } from "../dhis2/client.ts";
import type { MappingLookup } from "../mappings/lookup.ts";
import { parseKeepingNumbers } from "../submissions/raw_json.ts";
import { deadNote, mapOldStatus, type OldSubmission } from "./plan.ts";

/** Who submitted is not in the old log (§5.1); imported rows name the old service instead. */
export const IMPORTED_BY = "go-service";

export interface RequeueItem {
  oldId: number;
  newId: number;
  submittedAt: Date;
  oldStatus: string | null;
  orgUnit: string;
  period: string;
  dataSet: string;
  kind: "never_finished" | "failed";
  /** False when today's mappings cannot build its payload; `why` says what is missing. */
  requeueable: boolean;
  why?: string;
}

export interface HistoryOptions {
  payload: PayloadSettings;
  maxAttempts: number;
  now: Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function jsonObject(text: string | null): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/** The request code behind each value of what the old service sent, where today's map says. */
function codesFor(sent: DataValueSetPayload, built: BuiltPayload | null): string[] {
  const byTarget = new Map<string, string>();
  built?.payload.dataValues.forEach((dv, i) =>
    byTarget.set(`${dv.dataElement}.${dv.categoryOptionCombo ?? ""}`, built.codes[i])
  );
  return (Array.isArray(sent.dataValues) ? sent.dataValues : []).map((dv) =>
    byTarget.get(`${dv?.dataElement}.${dv?.categoryOptionCombo ?? ""}`) ?? ""
  );
}

const text = (v: unknown) => typeof v === "string" ? v : "";

export interface Imported {
  id: number;
  status: string;
  requeue?: RequeueItem;
}

/** One old row, mapped: the columns of its submission, delivery and attempt. */
export interface Prepared {
  oldId: number;
  /** The old Asynq id when it is a UUID: old clients look their submission up by it. */
  oldTaskId: string | null;
  hash: string;
  orgUnit: string;
  orgUnitName: string | null;
  period: string;
  dataSet: string;
  request: string;
  payload: string;
  codes: string;
  unmapped: string;
  createdAt: string;
  orderingKey: string;
  status: string;
  attempts: number;
  lastError: string | null;
  http: number | null;
  dhis2Status: string | null;
  response: string | null;
  finishedAt: string;
  attemptAt: string;
  outcome: string;
  attemptError: string | null;
  requeue?: Omit<RequeueItem, "newId">;
}

/** Maps one old row (the caller has checked it was not imported before); no writes. */
export async function prepareSubmission(
  row: OldSubmission,
  lookup: MappingLookup,
  o: HistoryOptions,
): Promise<Prepared> {
  const fate = mapOldStatus(row.status);
  let body: Record<string, unknown> | null = null;
  try {
    const parsed = parseKeepingNumbers(row.payload_text);
    if (typeof parsed === "object" && parsed !== null) body = parsed as Record<string, unknown>;
  } catch { /* the old column is jsonb: unreachable in practice */ }
  const checked = body
    ? validateAggregate(body, undefined, !o.payload.defaultDataSet, null)
    : { problems: [{ field: "payload", message: "is not a JSON object" }] };
  let built: BuiltPayload | null = null;
  let why: string | undefined;
  if (checked.request) {
    const r = await buildPayload(checked.request, "default", lookup, o.payload, o.now);
    if (r.ok) built = r.built;
    else why = r.problems.map((p) => `${p.field}: ${p.message}`).join("; ");
  } else why = checked.problems.map((p) => `${p.field}: ${p.message}`).join("; ");

  const req = checked.request;
  const plain = jsonObject(row.payload_text) ?? {};
  const orgUnit = built?.orgUnit ?? req?.orgUnit ?? text(plain.orgUnit);
  const period = req?.period ?? text(plain.period);
  const dataSet = built?.dataSet ?? req?.dataSet ?? text(plain.dataSet);
  const sent = jsonObject(row.dhis2_payload) as DataValueSetPayload | null;
  // History shows what DHIS2 got; what is to be (re)sent is built with today's mappings.
  let payload: DataValueSetPayload;
  let codes: string[];
  if (fate.outcome && fate.outcome !== "dead" && sent) {
    payload = sent;
    codes = codesFor(sent, built);
  } else if (built) {
    payload = built.payload;
    codes = built.codes;
  } else {
    payload = sent ?? { dataSet, period, orgUnit, dataValues: [] };
    codes = codesFor(payload, null);
  }
  const hash = req
    ? requestHash(req)
    : createHash("sha256").update(row.payload_text, "utf8").digest("hex");

  let lastError: string | null = row.errors?.trim() || null;
  if (fate.requeueCandidate === "never_finished") {
    lastError = deadNote(row.status, why ?? null, built !== null);
  } else if (fate.requeueCandidate === "failed") {
    lastError = `${lastError ?? "failed"} (imported from the old Go service, where it failed: ${
      built
        ? "requeue it to send it again with today's mappings"
        : `it cannot be requeued as it is: ${why}`
    })`;
  }
  const at = row.last_attempt_at ?? row.submitted_at;
  const finishedAt = fate.attempted ? at : o.now;
  const http = fate.outcome === "delivered" || fate.outcome === "partial"
    ? 200
    : fate.outcome === "rejected"
    ? 409
    : null;
  const dhis2Status = fate.attempted && fate.outcome !== "dead" ? row.status!.trim() : null;
  const response = row.response?.trim()
    ? JSON.stringify(jsonObject(row.response) ?? row.response)
    : null;
  const oldTaskId = row.task_id && UUID.test(row.task_id.trim())
    ? row.task_id.trim().toLowerCase()
    : null;
  return {
    oldId: row.id,
    oldTaskId,
    hash,
    orgUnit,
    orgUnitName: req?.orgUnitName ?? (text(plain.orgUnitName) || null),
    period,
    dataSet,
    request: row.payload_text,
    payload: JSON.stringify(payload),
    codes: JSON.stringify(codes),
    unmapped: JSON.stringify(built?.unmappedCodes ?? []),
    createdAt: row.submitted_at.toISOString(),
    orderingKey: aggregateOrderingKey(orgUnit, period),
    status: fate.status,
    attempts: fate.attempted ? 1 : 0,
    lastError,
    http,
    dhis2Status,
    response,
    finishedAt: finishedAt.toISOString(),
    attemptAt: at.toISOString(),
    outcome: fate.outcome ?? "dead",
    attemptError: fate.outcome === "delivered" ? null : lastError,
    requeue: fate.requeueCandidate
      ? {
        oldId: row.id,
        submittedAt: row.submitted_at,
        oldStatus: row.status,
        orgUnit,
        period,
        dataSet,
        kind: fate.requeueCandidate,
        requeueable: built !== null,
        why,
      }
      : undefined,
  };
}

/**
 * Stores mapped rows, in their order (submission ids follow the old ids, so requeued ones keep
 * FIFO per key), in one statement: its submissions, deliveries, attempts and ledger rows. One
 * statement per row ran at 190-230 rows/s here (2 loaded cores), the summary trigger and a
 * round trip paid per row.
 */
export async function storeSubmissions(
  tx: TransactionSql,
  rows: readonly Prepared[],
  o: HistoryOptions,
): Promise<Imported[]> {
  if (!rows.length) return [];
  // Each row's task id is known before the insert, so the returned ids can be matched by it.
  const wanted = rows.map((r) => r.oldTaskId).filter((t): t is string => t !== null);
  const taken = new Set(
    wanted.length
      ? (await tx<{ t: string }[]>`
        select task_id::text as t from submissions where task_id = any(${wanted}::uuid[])`)
        .map((r) => r.t)
      : [],
  );
  const taskIds = rows.map((r) => {
    if (r.oldTaskId && !taken.has(r.oldTaskId)) {
      taken.add(r.oldTaskId);
      return r.oldTaskId;
    }
    return crypto.randomUUID();
  });
  const col = <K extends keyof Prepared>(k: K) => rows.map((r) => r[k]);
  const ids = await tx<{ old_id: number; id: number }[]>`
    with x as (
      select * from unnest(
        ${col("oldId")}::bigint[], ${taskIds}::uuid[], ${col("hash")}::text[],
        ${col("orgUnit")}::text[], ${col("orgUnitName")}::text[], ${col("period")}::text[],
        ${col("dataSet")}::text[], ${col("request")}::text[], ${col("payload")}::text[],
        ${col("codes")}::text[], ${col("unmapped")}::text[], ${col("createdAt")}::timestamptz[],
        ${col("orderingKey")}::text[], ${col("status")}::text[], ${col("attempts")}::int[],
        ${col("lastError")}::text[], ${col("http")}::int[], ${col("dhis2Status")}::text[],
        ${col("response")}::text[], ${col("finishedAt")}::timestamptz[],
        ${col("attemptAt")}::timestamptz[], ${col("outcome")}::text[],
        ${col("attemptError")}::text[]
      ) with ordinality as x(
        old_id, task_id, request_hash, org_unit, org_unit_name, period, data_set, request,
        payload, codes, unmapped, created_at, ordering_key, status, attempts, last_error,
        http_status, dhis2_status, response, finished_at, attempt_at, outcome, attempt_error, n)
    ), sub as (
      insert into submissions (
        task_id, user_uid, username, source_name, request_hash, org_unit, org_unit_name, period,
        data_set, kind, request, payload, codes, unmapped_codes, created_at
      )
      select task_id, '', ${IMPORTED_BY}, 'default', request_hash, org_unit, org_unit_name,
             period, data_set, ${AGGREGATE}, request::jsonb, payload::jsonb,
             array(select jsonb_array_elements_text(codes::jsonb)),
             array(select jsonb_array_elements_text(unmapped::jsonb)), created_at
      from x order by n
      returning id, task_id
    ), j as (
      select x.*, sub.id as submission_id from x join sub using (task_id)
    ), del as (
      insert into deliveries (
        submission_id, destination, kind, ordering_key, status, attempts, max_attempts, run_at,
        last_error, http_status, dhis2_status, response, created_at, updated_at, finished_at
      )
      select submission_id, 'default', ${AGGREGATE}, ordering_key, status, attempts,
             ${o.maxAttempts}, created_at, last_error, http_status, dhis2_status, response::jsonb,
             created_at, ${o.now.toISOString()}::timestamptz, finished_at
      from j order by n
      returning id, submission_id
    ), att as (
      insert into delivery_attempts (
        delivery_id, number, worker, started_at, finished_at, duration_ms, outcome, http_status,
        dhis2_status, error
      )
      select del.id, 1, ${IMPORTED_BY}, j.attempt_at, j.attempt_at, 0, j.outcome, j.http_status,
             j.dhis2_status, j.attempt_error
      from j join del using (submission_id) where j.attempts > 0
    ), ledger as (
      insert into go_service_imports (kind, old_id, new_id)
      select 'submission', old_id, submission_id from j
    )
    select old_id, submission_id as id from j order by n`;
  return ids.map((r, i) => {
    const p = rows[i];
    if (Number(r.old_id) !== p.oldId) throw new Error("import: rows came back out of order");
    return {
      id: r.id,
      status: p.status,
      requeue: p.requeue ? { ...p.requeue, newId: r.id } : undefined,
    };
  });
}
