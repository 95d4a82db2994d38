/**
 * The aggregate kind's batch capability: the claimed deliveries of one data set go to DHIS2 as
 * one `dataValueSets` import (the `dataSet` header kept, period, org unit and attribute option
 * combo on every value), and the reply is taken apart again, submission by submission:
 * - a conflict belongs to the submissions whose values its `indexes` point at (2.38+); one
 *   without indexes is matched by its `object` against the values sent (older replies), and one
 *   about the `dataSet` header concerns every submission;
 * - a reply that cannot be attributed (ERROR without conflicts, a 409 or 400 without a usable
 *   summary, 413, an undecodable payload) splits the batch in two halves that are sent again,
 *   down to one submission, which then gets the lone delivery's verdict (aggregate/outcome.ts);
 *   an ERROR whose conflicts carry indexes (2.43 when every value fails) is final per value;
 * - a reply that says DHIS2 is down, overloaded or refusing our credentials retries every
 *   submission (each on its own budget).
 * Completion (`completeDate`) is registered afterwards through completeDataSetRegistrations.
 */
import type { DataValue, Dhis2Client, Dhis2Result } from "../dhis2/client.ts";
import {
  decideOutcome,
  type Dhis2Conflict,
  extractImportSummary,
  type ImportSummaryView,
} from "../dhis2/outcome.ts";
import type {
  BatchCapability,
  BatchExchange,
  BatchResult,
  ClaimedDelivery,
  DeliverContext,
  Outcome,
} from "../queue/kind.ts";
import { keepNewestPerKey, supersededNote, toUnit, type Unit } from "./batch_units.ts";
import { attributed, registerCompletion, singleOutcome, withNote } from "./batch_verdicts.ts";
import { aggregateOutcome } from "./outcome.ts";

export interface AggregateBatchOptions {
  client:
    & Pick<Dhis2Client, "postDataValueSets">
    & Partial<Pick<Dhis2Client, "postCompleteDataSetRegistrations">>;
  saveResponse: boolean;
}

type Final = Exclude<Outcome, { kind: "snooze" }>;

export function aggregateBatch(o: AggregateBatchOptions): BatchCapability {
  return {
    async deliverBatch(jobs: readonly ClaimedDelivery[], ctx: DeliverContext) {
      const units = [...jobs].sort((a, b) => a.id - b.id).map(toUnit);
      keepNewestPerKey(units);
      const run = new BatchRun(o, ctx, units[0]?.payload.dataSet);
      for (const u of units) {
        if (!u.items.length) {
          run.decide(u, { kind: "delivered", facts: emptyFacts(), note: supersededNote(u) }, null);
        }
      }
      const toSend = units.filter((u) => u.items.length);
      if (toSend.length) await run.send(toSend, null);
      await registerCompletion(o, units, run.decisions, () => run.request());
      return run.result(units);
    },
  };
}

export function emptyFacts() {
  return { httpStatus: null, remoteStatus: null, counts: null, conflicts: null, response: null };
}

class BatchRun {
  readonly exchanges: BatchExchange[] = [];
  readonly decisions = new Map<number, { outcome: Final; batchId: string | null }>();
  #requests = 0;
  constructor(
    readonly o: AggregateBatchOptions,
    readonly ctx: DeliverContext,
    readonly dataSet: string | undefined,
  ) {}

  /** Before each request: the claim paid for the first, the rest wait for the rate limit. */
  async request(): Promise<void> {
    if (this.#requests++ > 0) await this.ctx.beforeRequest?.();
  }

  decide(unit: Unit, outcome: Final, batchId: string | null): void {
    this.decisions.set(unit.job.id, { outcome, batchId });
  }

  result(units: readonly Unit[]): BatchResult {
    return {
      exchanges: this.exchanges,
      outcomes: units.map((u) => {
        const d = this.decisions.get(u.job.id)!;
        return { deliveryId: u.job.id, outcome: d.outcome, batchId: d.batchId };
      }),
    };
  }

  async send(units: Unit[], parentId: string | null): Promise<void> {
    const values: DataValue[] = units.flatMap((u) => u.items.map((it) => it.value));
    const payload = this.dataSet ? { dataSet: this.dataSet, dataValues: values } : {
      dataValues: values,
    };
    await this.request();
    const id = crypto.randomUUID();
    const startedAt = this.ctx.now();
    const t0 = performance.now();
    const reply = await this.o.client.postDataValueSets(payload);
    const summary = reply.kind === "response" &&
        (reply.httpStatus === 200 || reply.httpStatus === 409)
      ? extractImportSummary(reply.body)
      : null;
    const exchange: BatchExchange = {
      id,
      parentId,
      deliveryIds: units.map((u) => u.job.id),
      size: values.length,
      startedAt,
      finishedAt: this.ctx.now(),
      durationMs: Math.round(performance.now() - t0),
      httpStatus: reply.kind === "response" ? reply.httpStatus : null,
      remoteStatus: summary?.status ?? null,
      counts: summary?.counts ?? null,
      result: "attributed",
      error: reply.kind === "transport_error" ? reply.error : null,
    };
    this.exchanges.push(exchange);

    if (units.length === 1) {
      const outcome = singleOutcome(units[0], payload, reply, this.o.saveResponse);
      if (outcome.kind === "retry") {
        exchange.result = "failed";
        exchange.error = outcome.error;
      }
      this.decide(units[0], outcome, id);
      return;
    }
    const verdict = classify(reply, summary, payload, units);
    if (verdict.kind === "split") {
      exchange.result = "split";
      exchange.error = verdict.reason;
      const [left, right] = halves(units);
      await this.send(left, id);
      await this.send(right, id);
      return;
    }
    if (verdict.kind === "whole") {
      // The same verdict for everyone: DHIS2 down or refusing the request as such.
      const whole = aggregateOutcome(reply, payload, [], false);
      if (whole.kind === "retry") {
        exchange.result = "failed";
        exchange.error = whole.error;
      }
      for (const u of units) {
        const own: Final = whole.kind === "retry" || whole.kind === "give_up"
          ? { ...whole, facts: { ...whole.facts, conflicts: null, response: null } }
          : {
            kind: "rejected",
            facts: { ...whole.facts, conflicts: null, response: null },
            error: "error" in whole ? whole.error : "DHIS2 refused the import",
            refusedCodes: [],
          };
        this.decide(u, withNote(own, u), id);
      }
      return;
    }
    const perUnit = attributed(units, summary!, verdict.indexesOf, reply, id, this.o.saveResponse);
    units.forEach((u, i) => this.decide(u, perUnit[i], id));
  }
}

type Verdict =
  | { kind: "split"; reason: string }
  | { kind: "whole" }
  | { kind: "attributed"; indexesOf: (c: Dhis2Conflict) => number[] };

/** Can the reply be taken apart submission by submission? */
function classify(
  reply: Dhis2Result,
  summary: ImportSummaryView | null,
  payload: { dataSet?: string; dataValues: DataValue[] },
  units: readonly Unit[],
): Verdict {
  if (reply.kind === "transport_error") return { kind: "whole" };
  const status = reply.httpStatus;
  if (status === 413) {
    return { kind: "split", reason: "DHIS2 answered 413: the import is too large" };
  }
  if (!summary) {
    // An exception that escaped the import (409 without a summary) or a refused body (400):
    // one submission's values may be the cause.
    const decided = decideOutcome(reply, payload);
    const credentials = decided.kind === "retry" && decided.credentialProblem === true;
    if ((status === 409 || status === 400) && !credentials) {
      return { kind: "split", reason: `DHIS2 answered HTTP ${status} without an import summary` };
    }
    return { kind: "whole" };
  }
  if (summary.status === "ERROR" && summary.conflicts.length === 0) {
    return {
      kind: "split",
      reason: summary.description ?? "DHIS2 reported an import ERROR without a conflict",
    };
  }
  const n = payload.dataValues.length;
  const values = payload.dataValues;
  const indexesOf = (c: Dhis2Conflict): number[] => {
    if (c.indexes?.length) return c.indexes.filter((i) => i >= 0 && i < n);
    if (isHeaderConflict(c, payload.dataSet)) return values.map((_, i) => i);
    // Older replies without indexes: the values that carry the conflict's object.
    const out: number[] = [];
    values.forEach((v, i) => {
      if (
        [v.dataElement, v.orgUnit, v.period, v.categoryOptionCombo, v.attributeOptionCombo]
          .includes(c.object)
      ) out.push(i);
    });
    return out;
  };
  for (const c of summary.conflicts) {
    if (c.indexes?.some((i) => i < 0 || i >= n)) {
      return { kind: "split", reason: "a conflict points outside the values sent" };
    }
    if (!indexesOf(c).length) {
      return { kind: "split", reason: `a conflict names no value sent: ${c.value}` };
    }
  }
  // 2.43 swallowing a failed write (values ignored without a conflict): nobody can tell whose.
  if (decideOutcome(reply, payload).kind === "retry") return { kind: "whole" };
  void units;
  return { kind: "attributed", indexesOf };
}

function isHeaderConflict(c: Dhis2Conflict, dataSet: string | undefined): boolean {
  return c.property === "dataSet" || (dataSet !== undefined && c.object === dataSet);
}

/** Two halves of about equal value count, each with at least one submission. */
function halves(units: Unit[]): [Unit[], Unit[]] {
  const total = units.reduce((n, u) => n + u.items.length, 0);
  let acc = 0;
  let cut = 1;
  for (let i = 0; i < units.length - 1; i++) {
    acc += units[i].items.length;
    cut = i + 1;
    if (acc * 2 >= total) break;
  }
  return [units.slice(0, cut), units.slice(cut)];
}
