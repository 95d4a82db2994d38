/**
 * The aggregate batch taken apart without a database: a scripted DHIS2 answers each import, and
 * every submission's outcome, conflicts and exchange are checked.
 */
import assert from "node:assert/strict";
import type { DataValueSetPayload, Dhis2Result } from "../dhis2/client.ts";
import type { ClaimedDelivery, Outcome } from "../queue/kind.ts";
import { aggregateBatch } from "./batch.ts";

const job = (id: number, values: string[], codes: string[], extra = {}): ClaimedDelivery => ({
  id,
  submissionId: 100 + id,
  taskId: `task-${id}`,
  kind: "aggregate",
  destination: "default",
  attempt: 1,
  attemptsAtRequeue: 0,
  maxAttempts: 4,
  payload: {
    dataSet: "pBOMPrpg1QX",
    period: `20240${id}`,
    orgUnit: "DiszpKrYNg8",
    dataValues: values.map((de) => ({ dataElement: de, value: "1" })),
    ...extra,
  },
  codes,
  username: "tester",
  lockedUntil: new Date(Date.now() + 60_000),
  claimedAt: new Date(),
});

const reply = (httpStatus: number, body: unknown): Dhis2Result => ({
  kind: "response",
  httpStatus,
  body,
  rawBody: JSON.stringify(body),
  durationMs: 1,
});

const summary = (status: string, counts: number[], conflicts: unknown[], extra = {}) => ({
  httpStatus: "Conflict",
  httpStatusCode: 409,
  status,
  response: {
    responseType: "ImportSummary",
    status,
    description: "Import process completed successfully",
    importCount: { imported: counts[0], updated: 0, ignored: counts[1], deleted: 0 },
    conflicts,
    ...extra,
  },
});

function scripted(answers: Array<(p: DataValueSetPayload) => Dhis2Result>) {
  const sent: DataValueSetPayload[] = [];
  const registrations: unknown[] = [];
  return {
    sent,
    registrations,
    client: {
      postDataValueSets: (p: DataValueSetPayload) => {
        sent.push(p);
        return Promise.resolve(answers[sent.length - 1](p));
      },
      postCompleteDataSetRegistrations: (r: unknown[]) => {
        registrations.push(...r);
        return Promise.resolve(reply(200, summary("SUCCESS", [r.length, 0], [])));
      },
    },
  };
}

const kinds = (outcomes: Array<{ outcome: Outcome }>) => outcomes.map((o) => o.outcome.kind);
const ctx = { now: () => new Date() };

Deno.test("conflicts go to their own submission by index; an index-less one by its object", async () => {
  const dhis2 = scripted([() =>
    reply(
      409,
      summary("WARNING", [3, 2], [
        { object: "deB", value: "Data element not found", errorCode: "E7610", indexes: [3] },
        // An older reply without indexes: the value that carries this object.
        { object: "deX", value: "Value not numeric" },
      ]),
    )]);
  const r = await aggregateBatch({ client: dhis2.client, saveResponse: true }).deliverBatch([
    job(1, ["deA", "deX"], ["A", "X"]),
    job(2, ["deA", "deB"], ["A2", "B"]),
    job(3, ["deC"], ["C"]),
  ], ctx);
  assert.equal(dhis2.sent.length, 1);
  assert.deepEqual(dhis2.sent[0].dataValues.map((v) => [v.dataElement, v.period]), [
    ["deA", "202401"],
    ["deX", "202401"],
    ["deA", "202402"],
    ["deB", "202402"],
    ["deC", "202403"],
  ]);
  assert.deepEqual(kinds(r.outcomes), ["partial", "partial", "delivered"]);
  const [one, two] = r.outcomes.map((o) => o.outcome) as Array<
    Extract<Outcome, { kind: "partial" }>
  >;
  assert.deepEqual(one.refusedCodes, ["X"]);
  assert.deepEqual(two.refusedCodes, ["B"]);
  assert.deepEqual((two.facts.conflicts as Array<{ indexes: number[] }>)[0].indexes, [1]);
  assert.equal((two.facts.response as { batch: string }).batch, r.exchanges[0].id);
  assert.deepEqual(r.exchanges.map((e) => e.result), ["attributed"]);
  assert.ok(r.outcomes.every((o) => o.batchId === r.exchanges[0].id));
});

Deno.test("413 splits; a transport error retries everyone; a data-set abort rejects everyone", async () => {
  const ok = () => reply(200, { ...summary("SUCCESS", [1, 0], []), httpStatusCode: 200 });
  const split = scripted([() => reply(413, "too large"), ok, ok]);
  const a = await aggregateBatch({ client: split.client, saveResponse: false }).deliverBatch(
    [job(1, ["deA"], ["A"]), job(2, ["deB"], ["B"])],
    ctx,
  );
  assert.deepEqual(split.sent.map((p) => p.dataValues.length), [2, 1, 1]);
  assert.deepEqual(kinds(a.outcomes), ["delivered", "delivered"]);
  assert.deepEqual(a.exchanges.map((e) => [e.result, e.parentId]), [
    ["split", null],
    ["attributed", a.exchanges[0].id],
    ["attributed", a.exchanges[0].id],
  ]);

  const down = scripted([() => ({
    kind: "transport_error",
    error: "connection refused",
    timedOut: false,
    durationMs: 1,
  })]);
  const b = await aggregateBatch({ client: down.client, saveResponse: false }).deliverBatch(
    [job(1, ["deA"], ["A"]), job(2, ["deB"], ["B"])],
    ctx,
  );
  assert.deepEqual(kinds(b.outcomes), ["retry", "retry"]);
  assert.deepEqual(b.exchanges.map((e) => e.result), ["failed"]);

  const aborted = scripted([() =>
    reply(
      409,
      summary("ERROR", [0, 0], [{
        object: "pBOMPrpg1QX",
        value: "User does not have write access for DataSet",
        errorCode: "E7601",
        property: "dataSet",
      }], { description: "Import process was aborted" }),
    )]);
  const c = await aggregateBatch({ client: aborted.client, saveResponse: false }).deliverBatch(
    [job(1, ["deA"], ["A"]), job(2, ["deB"], ["B"])],
    ctx,
  );
  assert.equal(aborted.sent.length, 1, "not split: the header concerns everyone");
  assert.deepEqual(kinds(c.outcomes), ["rejected", "rejected"]);
});

Deno.test("completion goes to completeDataSetRegistrations, not in the batched import", async () => {
  const ok = () => reply(200, { ...summary("SUCCESS", [2, 0], []), httpStatusCode: 200 });
  const dhis2 = scripted([ok]);
  const r = await aggregateBatch({ client: dhis2.client, saveResponse: false }).deliverBatch([
    job(1, ["deA"], ["A"], { completeDate: "2024-02-01" }),
    job(2, ["deB"], ["B"]),
  ], ctx);
  assert.deepEqual(kinds(r.outcomes), ["delivered", "delivered"]);
  assert.equal("completeDate" in dhis2.sent[0], false);
  assert.deepEqual(dhis2.registrations, [{
    dataSet: "pBOMPrpg1QX",
    period: "202401",
    organisationUnit: "DiszpKrYNg8",
    date: "2024-02-01",
    completed: true,
  }]);
});
