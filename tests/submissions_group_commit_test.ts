/**
 * Group commit (src/queue/group_commit.ts): submissions that arrive while an INSERT is in
 * flight are written by one statement; each is answered only once its own row is committed, a
 * bad row fails alone, the database's absence fails each, and FIFO per key holds in a group.
 */
import assert from "node:assert/strict";
import { AGGREGATE } from "../src/aggregate/kind.ts";
import { aggregateOrderingKey } from "../src/aggregate/ordering_key.ts";
import { GroupCommit } from "../src/queue/group_commit.ts";
import type { NewSubmission } from "../src/queue/queries.ts";
import { connect } from "../src/db/db.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { createSubmissionsApp, DATA_SET, ORG_UNIT } from "./support/submissions.ts";

function submission(marker: number, opts: Partial<NewSubmission> = {}): NewSubmission {
  const period = opts.period ?? `2024${String(marker % 12 + 1).padStart(2, "0")}`;
  return {
    userUid: "uTester0001",
    username: "tester",
    sourceName: "default",
    idempotencyKey: null,
    requestHash: `hash-${marker}`,
    orgUnit: ORG_UNIT,
    orgUnitName: marker % 2 ? null : `Clinic ${marker}`,
    period,
    dataSet: DATA_SET,
    kind: AGGREGATE,
    requestJson: JSON.stringify({ dataValues: { ANC1: marker } }),
    payload: {
      dataSet: DATA_SET,
      period,
      orgUnit: ORG_UNIT,
      dataValues: [{ dataElement: "f7n9E0hX8qk", value: String(marker) }],
    },
    codes: ["ANC1"],
    unmappedCodes: marker % 3 ? [] : ["X", "Y"],
    deliveries: [{
      destination: "default",
      kind: AGGREGATE,
      orderingKey: aggregateOrderingKey(ORG_UNIT, period),
      maxAttempts: 4,
      batchKey: null,
      weight: 1,
    }],
    ...opts,
  };
}

dbTest("submissions that arrive while one is written share one statement", async () => {
  const db = await createTestDb("group_commit_rows");
  try {
    const g = new GroupCommit(db.sql, { maxInFlight: 1 });
    // The first is written at once; the other five wait for it and go together.
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((m) => g.enqueue(submission(m))));
    assert.deepEqual(g.stats, { statements: 2, groups: 1, grouped: 5, split: 0 });
    assert.ok(results.every((r) => r.inserted && r.status === "queued"));
    const rows = await db.sql`
      select s.id, s.task_id, s.request_hash, s.org_unit_name, s.codes, s.unmapped_codes,
             s.request::text as request, s.payload, d.destination, d.max_attempts, d.held
      from submissions s join deliveries d on d.submission_id = s.id order by s.id`;
    assert.equal(rows.length, 6);
    rows.forEach((row, i) => {
      const m = i + 1;
      const s = submission(m);
      assert.equal(row.id, results[i].id);
      assert.equal(row.task_id, results[i].taskId);
      assert.equal(row.request_hash, `hash-${m}`);
      assert.equal(row.org_unit_name, s.orgUnitName);
      assert.deepEqual(row.codes, ["ANC1"]);
      assert.deepEqual(row.unmapped_codes, s.unmappedCodes);
      assert.deepEqual(results[i].unmappedCodes, s.unmappedCodes);
      assert.deepEqual(JSON.parse(row.request), { dataValues: { ANC1: m } });
      assert.deepEqual(row.payload, s.payload);
      assert.deepEqual(results[i].payload, s.payload);
      assert.equal(row.destination, "default");
      assert.equal(row.max_attempts, 4);
      assert.equal(row.held, false);
    });
  } finally {
    await db.close();
  }
});

dbTest("in one group, a later submission of the same key is held behind the earlier", async () => {
  const db = await createTestDb("group_commit_fifo");
  try {
    const g = new GroupCommit(db.sql, { maxInFlight: 1 });
    const same = (m: number) => submission(m, { period: "202403" });
    const results = await Promise.all([
      g.enqueue(submission(1, { period: "202401" })),
      g.enqueue(same(2)),
      g.enqueue(same(3)),
      g.enqueue(submission(4, { period: "202402" })),
    ]);
    assert.equal(g.stats.groups, 1);
    const rows = await db.sql`select submission_id, held from deliveries order by id`;
    assert.deepEqual(
      rows.map((r) => [r.submission_id, r.held]),
      [[results[0].id, false], [results[1].id, false], [results[2].id, true], [
        results[3].id,
        false,
      ]],
    );
  } finally {
    await db.close();
  }
});

dbTest("a bad row in a group fails alone; its neighbours are stored", async () => {
  const db = await createTestDb("group_commit_bad_row");
  try {
    const g = new GroupCommit(db.sql, { maxInFlight: 1 });
    const settled = await Promise.allSettled([
      g.enqueue(submission(1)),
      g.enqueue(submission(2)),
      // Not JSON: PostgreSQL refuses the cast, and with it the whole group's statement.
      g.enqueue(submission(3, { requestJson: "{not json" })),
      g.enqueue(submission(4)),
    ]);
    assert.deepEqual(settled.map((s) => s.status), [
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    assert.equal((settled[2] as PromiseRejectedResult).reason.code, "22P02");
    assert.equal(g.stats.split, 1);
    const rows = await db.sql`select request_hash from submissions order by id`;
    assert.deepEqual(rows.map((r) => r.request_hash), ["hash-1", "hash-2", "hash-4"]);
  } finally {
    await db.close();
  }
});

dbTest("a group whose database is gone fails every member with the outage", async () => {
  const db = await createTestDb("group_commit_outage");
  const sql = connect({ url: db.url, max: 2 });
  try {
    const g = new GroupCommit(sql, { maxInFlight: 1 });
    await g.enqueue(submission(1));
    // An ended pool answers CONNECTION_ENDED: the database's absence, as far as a caller knows.
    await sql.end({ timeout: 5 });
    const settled = await Promise.allSettled([2, 3, 4, 5].map((m) => g.enqueue(submission(m))));
    assert.deepEqual(
      settled.map((s) => s.status === "rejected" ? s.reason.code : "stored"),
      Array(4).fill("CONNECTION_ENDED"),
    );
    // The group failed as one (3 members), and was not split into single-row retries.
    assert.deepEqual(g.stats, { statements: 3, groups: 1, grouped: 3, split: 0 });
  } finally {
    await db.close();
  }
});

dbTest("repeats of one Idempotency-Key in one group: one row, the others replay it", async () => {
  const db = await createTestDb("group_commit_idempotent");
  try {
    const g = new GroupCommit(db.sql, { maxInFlight: 1 });
    const keyed = (m: number, hash: string) =>
      submission(m, { idempotencyKey: "key-1", requestHash: hash });
    const [other, a, b, c] = await Promise.all([
      g.enqueue(submission(9)),
      g.enqueue(keyed(1, "same")),
      g.enqueue(keyed(1, "same")),
      g.enqueue(keyed(2, "different")),
    ]);
    assert.equal(g.stats.groups, 1);
    assert.equal(other.inserted, true);
    assert.equal(a.inserted, true);
    assert.deepEqual([b.inserted, b.id, b.requestHash], [false, a.id, "same"]);
    // The route answers this one 409: same key, another body.
    assert.deepEqual([c.inserted, c.id, c.requestHash], [false, a.id, "same"]);
    const [n] = await db.sql`select count(*)::int as n from submissions`;
    assert.equal(n.n, 2);
  } finally {
    await db.close();
  }
});

dbTest("POST /api/v3/aggregate: concurrent submissions are grouped and each answered", async () => {
  const db = await createTestDb("group_commit_route");
  try {
    const app = await createSubmissionsApp(db);
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        app.post({
          orgUnit: ORG_UNIT,
          period: `2024${String(i + 1).padStart(2, "0")}`,
          dataSet: DATA_SET,
          dataValues: { ANC1: i },
        })),
    );
    const bodies = await Promise.all(replies.map((r) => r.json()));
    assert.deepEqual(replies.map((r) => r.status), Array(8).fill(200));
    const [row] = await db.sql`select count(*)::int as n, count(distinct id)::int as ids
      from submissions`;
    assert.deepEqual(row, { n: 8, ids: 8 });
    for (const [i, b] of bodies.entries()) {
      const [s] = await db.sql`select period from submissions where id = ${b.submission_id}`;
      assert.equal(s.period, `2024${String(i + 1).padStart(2, "0")}`);
      assert.equal(b.payload.period, s.period);
    }
    await app.close();
  } finally {
    await db.close();
  }
});

dbTest("two statements in flight never share an ordering key: the later is held", async () => {
  const db = await createTestDb("group_commit_in_flight_keys");
  try {
    const g = new GroupCommit(db.sql, { maxInFlight: 2 });
    // Nothing of either key is stored yet: written side by side, neither would see the other.
    const [a, b, c, d] = await Promise.all([
      g.enqueue(submission(1, { period: "202405" })),
      g.enqueue(submission(2, { period: "202405" })),
      g.enqueue(submission(3, { period: "202406" })),
      g.enqueue(submission(4, { period: "202406" })),
    ]);
    // a and c go side by side; b waits for a, d for c: four statements, none grouped.
    assert.deepEqual([g.stats.statements, g.stats.groups], [4, 0]);
    const rows = await db.sql`select submission_id, held from deliveries order by id`;
    assert.deepEqual(
      Object.fromEntries(rows.map((r) => [r.submission_id, r.held])),
      { [a.id]: false, [b.id]: true, [c.id]: false, [d.id]: true },
    );
  } finally {
    await db.close();
  }
});

dbTest("a submission without deliveries is refused, alone or in a group", async () => {
  const db = await createTestDb("group_commit_no_delivery");
  try {
    const g = new GroupCommit(db.sql, { maxInFlight: 1 });
    const settled = await Promise.allSettled([
      g.enqueue(submission(1)),
      g.enqueue(submission(2, { deliveries: [] })),
      g.enqueue(submission(3)),
    ]);
    assert.deepEqual(settled.map((s) => s.status), ["fulfilled", "rejected", "fulfilled"]);
    const [row] = await db.sql`
      select count(*)::int as n,
             count(*) filter (where not exists (
               select from deliveries d where d.submission_id = submissions.id))::int as bare
      from submissions`;
    assert.deepEqual({ ...row }, { n: 2, bare: 0 });
  } finally {
    await db.close();
  }
});

dbTest(
  "a lone submission and a group share one statement, planned once (generic plan)",
  async () => {
    const db = await createTestDb("group_commit_plan");
    // One connection: pg_prepared_statements is the session's own.
    const sql = connect({ url: db.url, max: 1 });
    try {
      const g = new GroupCommit(sql, { maxInFlight: 1 });
      // Twelve lone submissions one after another, then a group: PostgreSQL plans a custom plan
      // for the first five executions of a prepared statement and keeps the generic one after,
      // unless the custom plans look cheaper (the single-row INSERT's did: planned every time).
      for (let m = 1; m <= 12; m++) await g.enqueue(submission(m));
      await Promise.all([13, 14, 15].map((m) => g.enqueue(submission(m))));
      assert.equal(g.stats.groups, 1);
      assert.ok(g.stats.statements >= 13, `statements: ${g.stats.statements}`);
      const intake = await sql<{ generic_plans: number; custom_plans: number }[]>`
      select generic_plans::int, custom_plans::int from pg_prepared_statements
      where statement like ${"%insert into submissions%"}`;
      assert.equal(intake.length, 1, `intake statements: ${JSON.stringify(intake)}`);
      assert.ok(intake[0].custom_plans <= 5, `custom plans: ${intake[0].custom_plans}`);
      assert.ok(
        intake[0].generic_plans >= g.stats.statements - 5,
        `generic plans: ${intake[0].generic_plans} of ${g.stats.statements}`,
      );
      // 13-15 share their periods (keys) with 1-3, still pending: held behind them.
      const held = await sql`select s.request_hash from deliveries d
      join submissions s on s.id = d.submission_id where d.held order by d.id`;
      assert.deepEqual(held.map((r) => r.request_hash), ["hash-13", "hash-14", "hash-15"]);
    } finally {
      await sql.end();
      await db.close();
    }
  },
);
