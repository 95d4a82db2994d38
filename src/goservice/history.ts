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

/**
 * Maps one old row (the caller has checked it was not imported before), then sends its one
 * INSERT without waiting for it: `stored` settles when it did. A caller that maps the rows one
 * after another and awaits the inserts together keeps their order (the submission ids, FIFO per
 * key once requeued, follow the old ids) and pipelines them: 5,000 rows took 29 s with a round
 * trip each and three statements per row.
 */
export async function importSubmission(
  tx: TransactionSql,
  row: OldSubmission,
  lookup: MappingLookup,
  o: HistoryOptions,
): Promise<{ stored: Promise<Imported> }> {
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
  // The old Asynq id, when it is one and still free: old clients look submissions up by it.
  const taskId: string | null = row.task_id && UUID.test(row.task_id.trim())
    ? row.task_id.trim().toLowerCase()
    : null;

  const query = tx<{ id: number; status: string }[]>`
    with sub as (
      insert into submissions (
        task_id, user_uid, username, source_name, request_hash, org_unit, org_unit_name, period,
        data_set, kind, request, payload, codes, unmapped_codes, created_at
      ) values (
        coalesce(
          (select ${taskId}::uuid where not exists (
            select from submissions where task_id = ${taskId}::uuid)),
          gen_random_uuid()),
        '', ${IMPORTED_BY}, 'default', ${hash},
        ${orgUnit}, ${req?.orgUnitName ?? (text(plain.orgUnitName) || null)}, ${period},
        ${dataSet}, ${AGGREGATE}, ${row.payload_text}::text::jsonb,
        ${JSON.stringify(payload)}::text::jsonb, ${codes}::text[],
        ${built?.unmappedCodes ?? []}::text[], ${row.submitted_at}
      ) returning id
    ), del as (
      insert into deliveries (
        submission_id, destination, kind, ordering_key, status, attempts, max_attempts, run_at,
        last_error, http_status, dhis2_status, response, created_at, updated_at, finished_at
      )
      select id, 'default', ${AGGREGATE}, ${aggregateOrderingKey(orgUnit, period)},
             ${fate.status}, ${fate.attempted ? 1 : 0}, ${o.maxAttempts}, ${row.submitted_at},
             ${lastError}, ${http}, ${dhis2Status}, ${response}::text::jsonb, ${row.submitted_at},
             ${o.now}, ${finishedAt}
      from sub returning id
    ), att as (
      insert into delivery_attempts (
        delivery_id, number, worker, started_at, finished_at, duration_ms, outcome, http_status,
        dhis2_status, error
      )
      select id, 1, ${IMPORTED_BY}, ${at}, ${at}, 0, ${fate.outcome ?? "dead"}, ${http},
             ${dhis2Status}, ${fate.outcome === "delivered" ? null : lastError}
      from del where ${fate.attempted}
    ), ledger as (
      insert into go_service_imports (kind, old_id, new_id)
      select 'submission', ${row.id}, id from sub
    )
    select id, ${fate.status}::text as status from sub`;

  // `then` sends it now; the ones sent before it are ahead of it on the connection.
  const stored = query.then(([r]): Imported => {
    if (!fate.requeueCandidate) return r;
    return {
      ...r,
      requeue: {
        oldId: row.id,
        newId: r.id,
        submittedAt: row.submitted_at,
        oldStatus: row.status,
        orgUnit,
        period,
        dataSet,
        kind: fate.requeueCandidate,
        requeueable: built !== null,
        why,
      },
    };
  });
  return { stored };
}
