/** The simulator playing 2.43's import pipeline (reference §12), and the gateway reading it. */
import assert from "node:assert/strict";
import { aggregateOutcome } from "../aggregate/outcome.ts";
import { startSimulator } from "./simulator.ts";

const BASIC = `Basic ${btoa("admin:district")}`;
const OU = "DiszpKrYNg8";
const ANC = "f7n9E0hX8qk";
type Json = Record<string, unknown>;

const value = (dataElement: string, v: string, period = "202401") => ({
  dataElement,
  period,
  orgUnit: OU,
  value: v,
});

async function withSim243(fn: (post: (body: Json) => Promise<Post>) => Promise<void>) {
  const sim = await startSimulator({ version: "2.43", now: () => new Date("2024-06-15T10:00Z") });
  try {
    await fn(async (body) => {
      const res = await fetch(`${sim.url}/api/dataValueSets`, {
        method: "POST",
        headers: { Authorization: BASIC, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      const json = JSON.parse(text) as Json;
      return { status: res.status, json, summary: json.response as Json, text };
    });
  } finally {
    await sim.stop();
  }
}
interface Post {
  status: number;
  json: Json;
  summary: Json;
  text: string;
}

Deno.test("2.43: WARNING is 200, imported always 0, conflicts carry objects.args", async () => {
  await withSim243(async (post) => {
    const payload = {
      dataValues: [value(ANC, "1"), value("INVALID_1", "1"), value(ANC, "2", "202402")],
    };
    const r = await post(payload);
    assert.equal(r.status, 200);
    assert.equal(r.json.status, "WARNING");
    assert.equal(r.json.message, "Import completed with warnings, please check import summary.");
    assert.equal(r.summary.status, "WARNING");
    assert.equal("description" in r.summary, false);
    assert.deepEqual(r.summary.importCount, { imported: 0, updated: 2, ignored: 1, deleted: 0 });
    assert.deepEqual(r.summary.conflicts, [{
      object: null,
      objects: { args: "INVALID_1" },
      value: "Data element not found or not accessible: `INVALID_1`",
      errorCode: "E7610",
      property: "dataElement",
      indexes: [1],
    }]);
    assert.deepEqual(r.summary.rejectedIndexes, [1]);
    // Unchanged re-sent values count as updated too.
    const again = await post({ dataValues: [value(ANC, "1")] });
    assert.deepEqual(again.summary.importCount, {
      imported: 0,
      updated: 1,
      ignored: 0,
      deleted: 0,
    });

    const outcome = aggregateOutcome(
      { kind: "response", httpStatus: r.status, body: r.json, rawBody: r.text, durationMs: 1 },
      payload,
      ["A", "B", "C"],
      false,
    );
    assert.equal(outcome.kind, "partial");
    if (outcome.kind !== "partial") return;
    assert.deepEqual(outcome.refusedCodes, ["B"]);
    assert.equal((outcome.facts.conflicts as Array<{ object: string }>)[0].object, "INVALID_1");
  });
});

Deno.test("2.43: ERROR (409) when every value fails; the outcome is rejected", async () => {
  await withSim243(async (post) => {
    const payload = { dataValues: [value("INVALID_1", "1"), value(ANC, "1", "2021W53")] };
    const r = await post(payload);
    assert.equal(r.status, 409);
    assert.equal(r.summary.status, "ERROR");
    assert.deepEqual(r.summary.importCount, { imported: 0, updated: 0, ignored: 2, deleted: 0 });
    const outcome = aggregateOutcome(
      { kind: "response", httpStatus: r.status, body: r.json, rawBody: r.text, durationMs: 1 },
      payload,
      ["A", "B"],
      false,
    );
    assert.equal(outcome.kind, "rejected");
    if (outcome.kind !== "rejected") return;
    assert.deepEqual(outcome.refusedCodes, ["A", "B"]);
  });
});
