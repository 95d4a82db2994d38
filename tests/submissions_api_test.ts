/**
 * POST /api/v3/aggregate in-process over a real PostgreSQL: what is stored, the exact payload,
 * every 422, idempotency, roles.
 */
import assert from "node:assert/strict";
import { createTestDb, dbTest } from "./support/pg.ts";
import { body, createSubmissionsApp, DATA_SET, ORG_UNIT } from "./support/submissions.ts";

dbTest("a submission is stored, queued and answered with the exact DHIS2 payload", async () => {
  const db = await createTestDb("sub_happy");
  const t = await createSubmissionsApp(db);
  try {
    const raw = `{"orgUnit":"${ORG_UNIT}","orgUnitName":"Ngelehun","period":"202401",
      "dataSet":"${DATA_SET}","dataValues":{"ANC1":1000000,"WEIGHT":1.50,"MAL_M":0.1,
      "MAL_F":1e3,"NETS":true,"REMARKS":"as written  "}}`;
    const res = await t.post(raw);
    assert.equal(res.status, 200);
    const reply = await res.json();
    assert.equal(reply.message, "Aggregate request queued for processing");
    assert.equal(reply.status, "queued");
    assert.match(reply.task_id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(reply.payload, {
      dataSet: DATA_SET,
      period: "202401",
      orgUnit: ORG_UNIT,
      dataValues: [
        { dataElement: "f7n9E0hX8qk", value: "1000000" },
        { dataElement: "deWeightKg1", value: "1.50" },
        { dataElement: "deMalCases1", categoryOptionCombo: "cocMale0001", value: "0.1" },
        // Exponent notation is written out, exactly: DHIS2 refuses `1e3`.
        { dataElement: "deMalCases1", categoryOptionCombo: "cocFemale01", value: "1000" },
        { dataElement: "deNetsOk001", value: "true" },
        { dataElement: "deRemarks01", value: "as written  " },
      ],
    });
    const [row] = await db.sql`
      select s.id, s.status, d.attempts, s.user_uid, s.username, s.source_name, s.org_unit,
             s.org_unit_name, s.period, s.data_set, s.codes, s.payload,
             s.request::text as request, d.run_at <= now() as due
      from submissions s join deliveries d on d.submission_id = s.id`;
    assert.equal(row.id, reply.submission_id);
    assert.equal(row.status, "queued");
    assert.equal(row.attempts, 0);
    assert.equal(row.due, true);
    assert.equal(row.user_uid, t.users.submitter.uid);
    assert.equal(row.username, t.users.submitter.username);
    assert.equal(row.source_name, "default");
    assert.equal(row.org_unit_name, "Ngelehun");
    assert.deepEqual(row.codes, ["ANC1", "WEIGHT", "MAL_M", "MAL_F", "NETS", "REMARKS"]);
    assert.deepEqual(row.payload, reply.payload);
    // The request as received keeps the written numbers (jsonb normalises only 1e3).
    assert.match(row.request, /"ANC1": 1000000/);
    assert.match(row.request, /"WEIGHT": 1.50/);
    assert.equal(t.wakes(), 1);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("every invalid field is a 422 naming it, and nothing is stored", async () => {
  const db = await createTestDb("sub_422");
  const t = await createSubmissionsApp(db);
  try {
    const cases: Array<[unknown, string[], RegExp?]> = [
      [
        body({ ANC1: 1, NOPE: 2, ALSO_NOPE: 3 }),
        ["dataValues.NOPE", "dataValues.ALSO_NOPE"],
        /unmapped codes: NOPE, ALSO_NOPE/,
      ],
      [body({ ANC1: null }), ["dataValues.ANC1"], /got null/],
      [body({ ANC1: { n: 1 }, WEIGHT: [1] }), ["dataValues.ANC1", "dataValues.WEIGHT"]],
      [body({ ANC1: "" }), ["dataValues.ANC1"], /empty/],
      [body({}, { period: "202413" }), ["dataValues", "period"]],
      [body({ ANC1: 1 }, { period: "2020W54" }), ["period"], /not a valid DHIS2 ISO period/],
      [body({ ANC1: 1 }, { orgUnit: "not-a-uid" }), ["orgUnit"], /neither a DHIS2 UID/],
      [body({ ANC1: 1 }, { dataSet: "1abcdefghij" }), ["dataSet"]],
      [body({ ANC1: 1 }, { attributeOptionCombo: "x" }), ["attributeOptionCombo"]],
      [body({ ANC1: 1 }, { complete: "yes" }), ["complete"]],
      [{ period: "202401", dataValues: { ANC1: 1 } }, ["orgUnit", "dataSet"], /is required/],
      [{ orgUnit: 5, period: 202401, dataValues: [] }, [
        "orgUnit",
        "period",
        "dataValues",
        "dataSet",
      ]],
      // Every missing field at once, dataSet included (no api.dhis2_data_set default here).
      [{}, ["orgUnit", "period", "dataValues", "dataSet"]],
      [JSON.stringify(body({ ANC1: 0 })).replace('"ANC1":0', '"ANC1":1e400'), [
        "dataValues.ANC1",
      ], /too large/],
      [body({ ANC1: 1, MAL_M: 2 }, { dataSet: undefined }), ["dataSet"], /api.dhis2_data_set/],
      [[1, 2], ["(body)"]],
    ];
    for (const [b, fields, message] of cases) {
      const res = await t.post(b);
      const got = await res.json();
      assert.equal(res.status, 422, `${JSON.stringify(b)} → ${JSON.stringify(got)}`);
      assert.equal(got.error.code, "validation_failed");
      assert.deepEqual(
        got.error.details.map((d: { field: string }) => d.field).sort(),
        [...fields].sort(),
      );
      if (message) assert.match(got.error.message, message);
    }
    const malformed = await t.post('{"orgUnit": ');
    assert.equal(malformed.status, 400);
    assert.equal((await malformed.json()).error.code, "bad_request");
    const [{ n }] = await db.sql`select count(*)::int as n from submissions`;
    assert.equal(n, 0);
    assert.equal(t.wakes(), 0);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("unmapped codes with api.unmapped_codes=ignore are dropped and listed", async () => {
  const db = await createTestDb("sub_ignore");
  const t = await createSubmissionsApp(db, { DHIS2GW_UNMAPPED_CODES: "ignore" });
  try {
    const res = await t.post(body({ NOPE: 1, ANC1: 4 }));
    assert.equal(res.status, 200);
    const reply = await res.json();
    assert.deepEqual(reply.unmapped_codes, ["NOPE"]);
    assert.deepEqual(reply.payload.dataValues, [{ dataElement: "f7n9E0hX8qk", value: "4" }]);
    // Nothing mapped at all is still a 422: there would be nothing to send.
    const none = await t.post(body({ NOPE: 1 }));
    assert.equal(none.status, 422);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("mapping_scheme UID takes DE or DE.COC keys, org unit codes map through ou", async () => {
  const db = await createTestDb("sub_uid");
  const t = await createSubmissionsApp(db, {
    DHIS2GW_MAPPING_SCHEME: "UID",
    DHIS2GW_DHIS2_DATA_SET: DATA_SET,
    DHIS2GW_COMPLETE_DATA_SET: "true",
    DHIS2GW_TIMEZONE: "Africa/Kampala",
  });
  try {
    const res = await t.post({
      orgUnit: "NGELEHUN",
      period: "2020W53",
      dataValues: { f7n9E0hX8qk: 5, "deMalCases1.cocMale0001": 2 },
      attributeOptionCombo: "cocDonorA01",
    });
    assert.equal(res.status, 200, await res.clone().text());
    const { payload } = await res.json();
    assert.match(payload.completeDate, /^\d{4}-\d{2}-\d{2}$/);
    assert.deepEqual({ ...payload, completeDate: undefined }, {
      dataSet: DATA_SET,
      completeDate: undefined,
      period: "2020W53",
      orgUnit: ORG_UNIT,
      dataValues: [
        { dataElement: "f7n9E0hX8qk", attributeOptionCombo: "cocDonorA01", value: "5" },
        {
          dataElement: "deMalCases1",
          categoryOptionCombo: "cocMale0001",
          attributeOptionCombo: "cocDonorA01",
          value: "2",
        },
      ],
    });
    const bad = await t.post(body({ "f7n9E0hX8qk.x": 1, ANC1: 2 }, { complete: false }));
    assert.equal(bad.status, 422);
    const details = (await bad.json()).error.details;
    assert.deepEqual(details.map((d: { field: string }) => d.field), [
      "dataValues.f7n9E0hX8qk.x",
      "dataValues.ANC1",
    ]);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("an idempotency key replays the original and refuses a changed body", async () => {
  const db = await createTestDb("sub_idem");
  const t = await createSubmissionsApp(db);
  try {
    const headers = { "Idempotency-Key": "batch-2024-01-HC1" };
    const first = await t.post(body({ ANC1: 7 }), { headers });
    assert.equal(first.status, 200);
    const a = await first.json();
    // Same body, other key order and spacing: the same request.
    const again = await t.post(
      `{"dataValues":{"ANC1":7},"dataSet":"${DATA_SET}","period":"202401","orgUnit":"${ORG_UNIT}"}`,
      { headers },
    );
    assert.equal(again.status, 200);
    assert.equal(again.headers.get("idempotent-replayed"), "true");
    const b = await again.json();
    assert.equal(b.submission_id, a.submission_id);
    assert.equal(b.task_id, a.task_id);
    assert.equal(b.replayed, true);
    assert.deepEqual(b.payload, a.payload);
    // The key may come in the body too.
    const inBody = await t.post(body({ ANC1: 7 }, { idempotencyKey: "batch-2024-01-HC1" }));
    assert.equal((await inBody.json()).submission_id, a.submission_id);

    const changed = await t.post(body({ ANC1: 8 }), { headers });
    assert.equal(changed.status, 409);
    const err = await changed.json();
    assert.equal(err.error.code, "conflict");
    assert.equal(err.error.details.submission_id, a.submission_id);

    // Keys are per caller: the admin's identical key is a new submission.
    const other = await t.post(body({ ANC1: 7 }), { headers, as: "admin" });
    assert.notEqual((await other.json()).submission_id, a.submission_id);

    const mismatch = await t.post(body({ ANC1: 7 }, { idempotencyKey: "x" }), { headers });
    assert.equal(mismatch.status, 422);

    const [{ n }] = await db.sql`select count(*)::int as n from submissions`;
    assert.equal(n, 2);
    assert.equal(t.wakes(), 2);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("concurrent submissions with one idempotency key store exactly one row", async () => {
  const db = await createTestDb("sub_idem_race");
  const t = await createSubmissionsApp(db);
  try {
    const headers = { "Idempotency-Key": "race" };
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => t.post(body({ ANC1: 1 }), { headers })),
    );
    const ids = new Set<number>();
    for (const r of replies) {
      assert.equal(r.status, 200);
      ids.add((await r.json()).submission_id);
    }
    assert.equal(ids.size, 1);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("only submitters and admins may submit", async () => {
  const db = await createTestDb("sub_roles");
  const t = await createSubmissionsApp(db);
  try {
    assert.equal((await t.post(body(), { as: "viewer" })).status, 403);
    const anon = await t.app.request("/api/v3/aggregate", {
      method: "POST",
      body: JSON.stringify(body()),
    });
    assert.equal(anon.status, 401);
    assert.equal((await t.post(body(), { as: "admin" })).status, 200);
  } finally {
    await t.close();
    await db.close();
  }
});
