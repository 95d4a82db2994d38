/**
 * The aggregate kind of delivery: a DHIS2 data value set, POSTed to /api/dataValueSets as it was
 * built at acceptance (payload.ts), the reply turned into the queue's outcome (outcome.ts).
 */
import type { DataValueSetPayload, Dhis2Client } from "../dhis2/client.ts";
import type { ClaimedDelivery, DeliveryKind, Outcome } from "../queue/kind.ts";
import { aggregateOutcome } from "./outcome.ts";

export const AGGREGATE = "aggregate";

export interface AggregateKindOptions {
  client: Pick<Dhis2Client, "postDataValueSets">;
  /** api.save_response: keep DHIS2's reply body on the delivery. */
  saveResponse: boolean;
}

export function aggregateKind(o: AggregateKindOptions): DeliveryKind {
  return {
    name: AGGREGATE,
    async deliver(delivery: ClaimedDelivery): Promise<Outcome> {
      const payload = delivery.payload as DataValueSetPayload;
      const result = await o.client.postDataValueSets(payload);
      return aggregateOutcome(result, payload, delivery.codes, o.saveResponse);
    },
  };
}
