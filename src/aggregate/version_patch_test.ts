/**
 * The version matrix at the early patch releases whose differences the reference names: no
 * `rejectedIndexes` (2.38.x, 2.39.0–2.39.1, 2.40.0) and no QuarterlyNov (2.38.0–2.38.3,
 * 2.39.0–2.39.2, 2.40.0), each next to the first patch that has them. The simulator plays the
 * patch (`patch`, or `--dhis2-version 2.40.0`); intake and outcome must agree with it.
 */
import assert from "node:assert/strict";
import { createDhis2Client, type DataValueSetPayload } from "../dhis2/client.ts";
import { checkPeriod } from "../dhis2/periods.ts";
import { startSimulator } from "../simulator/simulator.ts";
import type { Dhis2Version } from "../simulator/simulator_web.ts";
import { aggregateOutcome } from "./outcome.ts";

const OU = "DiszpKrYNg8";
const ANC = "f7n9E0hX8qk";
const v = (dataElement: string, value: string, period = "202401") => ({
  dataElement,
  period,
  orgUnit: OU,
  value,
});

const CASES: Array<[Dhis2Version, number, { indexes: boolean; novQ: boolean }]> = [
  ["2.38", 3, { indexes: false, novQ: false }],
  ["2.38", 4, { indexes: false, novQ: true }],
  ["2.39", 1, { indexes: false, novQ: false }],
  ["2.39", 2, { indexes: true, novQ: false }],
  ["2.39", 3, { indexes: true, novQ: true }],
  ["2.40", 0, { indexes: false, novQ: false }],
  ["2.40", 1, { indexes: true, novQ: true }],
];

Deno.test("version matrix at early patches: rejectedIndexes and QuarterlyNov", async () => {
  for (const [version, patch, has] of CASES) {
    const release = `${version}.${patch}`;
    const sim = await startSimulator({ version, patch });
    try {
      const client = createDhis2Client({
        baseUrl: sim.url,
        auth: { method: "basic", username: "admin", password: "district" },
        connectTimeoutMs: 2000,
        timeoutMs: 5000,
      });
      const info = await (await fetch(`${sim.url}/api/system/info`, {
        headers: { Authorization: `Basic ${btoa("admin:district")}` },
      })).json();
      assert.equal(info.version, release);
      const send = async (payload: DataValueSetPayload) => {
        const result = await client.postDataValueSets(payload);
        return { result, outcome: aggregateOutcome(result, payload, ["A", "B", "C"], false) };
      };

      const warn = await send({
        dataValues: [v(ANC, "3"), v("INVALID_1", "1"), v(ANC, "4", "202403")],
      });
      assert.equal(warn.result.kind, "response");
      const body = warn.result.kind === "response"
        ? warn.result.body as Record<string, unknown>
        : {};
      const summary = (body.response ?? body) as Record<string, unknown>;
      assert.equal("rejectedIndexes" in summary, has.indexes, release);
      assert.equal(warn.outcome.kind, "partial", release);
      if (warn.outcome.kind === "partial") assert.deepEqual(warn.outcome.refusedCodes, ["B"]);

      const intake = checkPeriod("2024NovQ1", { version: release });
      assert.equal(intake.ok, has.novQ, release);
      const novQ = await send({ dataValues: [v(ANC, "7", "2024NovQ1")] });
      assert.equal(novQ.outcome.kind, has.novQ ? "delivered" : "rejected", release);
      if (novQ.outcome.kind === "rejected") assert.deepEqual(novQ.outcome.refusedCodes, ["A"]);
    } finally {
      await sim.stop();
    }
  }
});
