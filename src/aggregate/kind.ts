/**
 * The aggregate kind of delivery: a DHIS2 data value set, POSTed to /api/dataValueSets as it was
 * built at acceptance (payload.ts), the reply turned into the queue's outcome (outcome.ts). With
 * batching, many deliveries of one data set share an import (batch.ts).
 */
import type { DataValueSetPayload, Dhis2Client } from "../dhis2/client.ts";
import type { ClaimedDelivery, DeliveryKind, NewDeliveryBatching, Outcome } from "../queue/kind.ts";
import { aggregateBatch, emptyFacts } from "./batch.ts";
import { supersededNote, toUnit } from "./batch_units.ts";
import { singleOutcome } from "./batch_verdicts.ts";
import { aggregateOutcome } from "./outcome.ts";

export const AGGREGATE = "aggregate";

export interface AggregateKindOptions {
  /** Without postCompleteDataSetRegistrations (test clients), batches register no completion. */
  client:
    & Pick<Dhis2Client, "postDataValueSets">
    & Partial<Pick<Dhis2Client, "postCompleteDataSetRegistrations">>;
  /** api.save_response: keep DHIS2's reply body on the delivery. */
  saveResponse: boolean;
}

/**
 * What the queue stores at enqueue for batching: deliveries of one data set may share an import
 * (DHIS2 checks locks, expiry and approval against the `dataSet` header), and a batch's size
 * counts data values.
 */
export function aggregateBatching(payload: DataValueSetPayload): NewDeliveryBatching {
  return { batchKey: payload.dataSet ?? null, weight: Math.max(1, payload.dataValues.length) };
}

export function aggregateKind(o: AggregateKindOptions): DeliveryKind {
  return {
    name: AGGREGATE,
    async deliver(delivery: ClaimedDelivery): Promise<Outcome> {
      const payload = delivery.payload as DataValueSetPayload;
      if (!delivery.newer?.length) {
        const result = await o.client.postDataValueSets(payload);
        return aggregateOutcome(result, payload, delivery.codes, o.saveResponse);
      }
      // Newer submissions of this key were delivered meanwhile (a requeue, or an older retry):
      // what they wrote is left out, so this cannot overwrite it.
      const unit = toUnit(delivery);
      if (!unit.items.length) {
        return { kind: "delivered", facts: emptyFacts(), note: supersededNote(unit) };
      }
      const kept = new Set(unit.items.map((it) => it.index));
      const sent = { ...payload, dataValues: payload.dataValues.filter((_, i) => kept.has(i)) };
      const result = await o.client.postDataValueSets(sent);
      return singleOutcome(unit, sent, result, o.saveResponse);
    },
    batch: aggregateBatch(o),
  };
}
