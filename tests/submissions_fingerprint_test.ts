/**
 * The idempotency fingerprint (request.ts requestHash) covers everything that decides what
 * DHIS2 receives: the same Idempotency-Key with any of it changed is a 409, never a replay of
 * the first submission (issue 10, item 6: a fingerprint ignoring `period` went unnoticed).
 */
import assert from "node:assert/strict";
import { type AggregateRequest, requestHash } from "../src/submissions/request.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { body, createSubmissionsApp } from "./support/submissions.ts";

dbTest("the same Idempotency-Key with another period is a 409", async () => {
  const db = await createTestDb("sub_fingerprint");
  const t = await createSubmissionsApp(db);
  try {
    const headers = { "Idempotency-Key": "monthly-HC1" };
    const first = await t.post(body({ ANC1: 7 }, { period: "202401" }), { headers });
    assert.equal(first.status, 200);
    const { submission_id } = await first.json();
    const other = await t.post(body({ ANC1: 7 }, { period: "202402" }), { headers });
    assert.equal(other.status, 409, await other.clone().text());
    const err = await other.json();
    assert.equal(err.error.code, "conflict");
    assert.equal(err.error.details.submission_id, submission_id);
    const rows = await db.sql`select period from submissions`;
    assert.deepEqual(rows.map((r) => r.period), ["202401"]);
  } finally {
    await t.close();
    await db.close();
  }
});

Deno.test("every field of a submission changes its fingerprint; order and key do not", () => {
  const base: AggregateRequest = {
    orgUnit: "DiszpKrYNg8",
    orgUnitName: "Ngelehun",
    period: "202401",
    dataSet: "pBOMPrpg1QX",
    attributeOptionCombo: "HllvX50cXC0",
    complete: true,
    values: [
      { code: "ANC1", value: "7", kind: "number" },
      { code: "ANC2", value: "8", kind: "number" },
    ],
    idempotencyKey: "k",
  };
  const h = requestHash(base);
  const changed: Array<[string, Partial<AggregateRequest>]> = [
    ["orgUnit", { orgUnit: "ImspTQPwCqd" }],
    ["orgUnitName", { orgUnitName: "Other" }],
    ["period", { period: "202402" }],
    ["dataSet", { dataSet: "BfMAe6Itzgt" }],
    ["dataSet absent", { dataSet: undefined }],
    ["attributeOptionCombo", { attributeOptionCombo: undefined }],
    ["complete", { complete: false }],
    ["a value", { values: [base.values[0], { code: "ANC2", value: "9", kind: "number" }] }],
    ["a kind", { values: [base.values[0], { code: "ANC2", value: "8", kind: "string" }] }],
    ["a code", { values: [base.values[0], { code: "ANC3", value: "8", kind: "number" }] }],
    ["a value less", { values: [base.values[0]] }],
  ];
  for (const [what, change] of changed) {
    assert.notEqual(requestHash({ ...base, ...change }), h, what);
  }
  assert.equal(requestHash({ ...base, values: [...base.values].reverse() }), h);
  assert.equal(requestHash({ ...base, idempotencyKey: "other" }), h);
});
