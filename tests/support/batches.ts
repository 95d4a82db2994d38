/**
 * Shared by the batching tests and the delivery benchmark's test: submissions stored the way
 * the route stores them (batch key and weight included), and a look at what became of them.
 */
import { AGGREGATE, aggregateBatching } from "../../src/aggregate/kind.ts";
import { aggregateOrderingKey } from "../../src/aggregate/ordering_key.ts";
import type { DataValue } from "../../src/dhis2/client.ts";
import type { Db } from "../../src/db/db.ts";
import { enqueue } from "../../src/queue/queries.ts";
import { DATA_SET, ORG_UNIT } from "./submissions.ts";

export const ANC = "f7n9E0hX8qk";
/** Mapped at the gateway, unknown to the simulator: DHIS2 refuses it (E7610). */
export const GHOST = "deGhost0001";

export interface StoredValue {
  code: string;
  dataElement: string;
  value: string;
  categoryOptionCombo?: string;
}

/** Stores one submission with its values, as the route would. */
export async function store(
  sql: Db,
  values: StoredValue[],
  opts: { period?: string; orgUnit?: string; maxAttempts?: number; complete?: string } = {},
): Promise<{ id: number; taskId: string }> {
  const period = opts.period ?? "202401";
  const orgUnit = opts.orgUnit ?? ORG_UNIT;
  const dataValues: DataValue[] = values.map((v) => ({
    dataElement: v.dataElement,
    ...(v.categoryOptionCombo ? { categoryOptionCombo: v.categoryOptionCombo } : {}),
    value: v.value,
  }));
  const payload = {
    dataSet: DATA_SET,
    ...(opts.complete ? { completeDate: opts.complete } : {}),
    period,
    orgUnit,
    dataValues,
  };
  const r = await enqueue(sql, {
    userUid: "uTester0001",
    username: "tester",
    sourceName: "default",
    idempotencyKey: null,
    requestHash: crypto.randomUUID(),
    orgUnit,
    orgUnitName: null,
    period,
    dataSet: DATA_SET,
    kind: AGGREGATE,
    requestJson: JSON.stringify({ values }),
    payload,
    codes: values.map((v) => v.code),
    unmappedCodes: [],
    deliveries: [{
      destination: "default",
      kind: AGGREGATE,
      orderingKey: aggregateOrderingKey(orgUnit, period),
      maxAttempts: opts.maxAttempts ?? 4,
      ...aggregateBatching(payload),
    }],
  });
  return { id: r.id, taskId: r.taskId };
}

export interface DeliveryView {
  submissionId: number;
  status: string;
  lastError: string | null;
  conflicts: Array<{ codes: string[]; indexes: number[]; errorCode?: string; object: string }>;
}

export async function deliveries(sql: Db): Promise<DeliveryView[]> {
  const rows = await sql<
    { submission_id: number; status: string; last_error: string | null; conflicts: unknown }[]
  >`select submission_id, status, last_error, conflicts from deliveries order by id`;
  return rows.map((r) => ({
    submissionId: Number(r.submission_id),
    status: r.status,
    lastError: r.last_error,
    conflicts: (r.conflicts ?? []) as DeliveryView["conflicts"],
  }));
}
