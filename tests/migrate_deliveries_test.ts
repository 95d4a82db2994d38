/**
 * Migration 0008 on a database of the previous version (migrations 0001–0007): submissions in
 * every status, with their attempts, become submissions with one `default` delivery each, every
 * job column and attempt moved exactly; then a real worker delivers the ones still waiting.
 */
import assert from "node:assert/strict";
import { dhis2Destination } from "../src/aggregate/destination.ts";
import { aggregateOrderingKey } from "../src/aggregate/ordering_key.ts";
import type { Sql } from "../src/db/db.ts";
import { loadMigrations, migrate } from "../src/db/migrate.ts";
import { DEFAULT_PASSWORD, DEFAULT_USERNAME, startSimulator } from "../src/simulator/simulator.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { CircuitBreakers } from "../src/queue/circuit_breaker.ts";
import { startDelivery } from "../src/queue/runner.ts";
import { Wakeup } from "../src/queue/wakeup.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { DATA_SET, ORG_UNIT, testConfig } from "./support/submissions.ts";

// deno-lint-ignore no-explicit-any
type Loose = Record<string, any>;

/** The job columns 0004/0006 put on submissions, all of which move to the delivery. */
const JOB_COLUMNS = [
  "status",
  "attempts",
  "attempts_at_requeue",
  "max_attempts",
  "run_at",
  "locked_until",
  "locked_by",
  "last_error",
  "credential_problem",
  "http_status",
  "dhis2_status",
  "imported",
  "updated",
  "ignored",
  "deleted",
  "conflicts",
  "response",
  "requeued_at",
  "requeued_by",
  "created_at",
  "updated_at",
  "finished_at",
];

/** What the caller sent, which stays on the submission. */
const SUBMISSION_COLUMNS = [
  "task_id",
  "user_uid",
  "username",
  "source_name",
  "idempotency_key",
  "request_hash",
  "org_unit",
  "org_unit_name",
  "period",
  "data_set",
  "request",
  "payload",
  "codes",
  "unmapped_codes",
  "status",
  "created_at",
  "finished_at",
];

interface OldRow {
  marker: string;
  period: string;
  status: string;
  attempts: number;
  /** Outcomes of the stored attempts, numbered from 1. */
  log: string[];
  set?: Loose;
}

const CONFLICT = [{
  object: "deGhost0001",
  message: "Data element not found or not accessible",
  errorCode: "E7610",
  indexes: [1],
  codes: ["GHOST"],
  unmappedIndexes: [],
}];

// One of each status, as workers of the previous version left them. `running` is held by a
// worker that is gone (its lease ran out); `waiting` shares its key with `retrying` (the same
// month spelled another way), so it must still wait for it after the move.
const ROWS: OldRow[] = [
  { marker: "queued", period: "202401", status: "queued", attempts: 0, log: [] },
  {
    marker: "running",
    period: "202402",
    status: "running",
    attempts: 1,
    log: [],
    set: { locked_by: "old-host/1/abc", locked_until: "now() - interval '5 minutes'" },
  },
  {
    marker: "retrying",
    period: "2024-03",
    status: "retrying",
    attempts: 2,
    log: ["retry", "retry"],
    set: {
      last_error: "DHIS2 answered HTTP 503",
      http_status: 503,
      credential_problem: false,
      run_at: "now() - interval '1 second'",
    },
  },
  { marker: "waiting", period: "202403", status: "queued", attempts: 0, log: [] },
  {
    marker: "delivered",
    period: "202404",
    status: "delivered",
    attempts: 1,
    log: ["delivered"],
    set: {
      http_status: 200,
      dhis2_status: "SUCCESS",
      imported: 1,
      updated: 0,
      ignored: 0,
      deleted: 0,
      response: `'{"status":"OK"}'::jsonb`,
      finished_at: "now() - interval '1 hour'",
    },
  },
  {
    marker: "partial",
    period: "202405",
    status: "partial",
    attempts: 1,
    log: ["partial"],
    set: {
      http_status: 409,
      dhis2_status: "WARNING",
      imported: 1,
      updated: 0,
      ignored: 1,
      deleted: 0,
      conflicts: `'${JSON.stringify(CONFLICT)}'::jsonb`,
      last_error: "DHIS2 refused 1 of 2 value(s) (codes GHOST): E7610 Data element not found",
      finished_at: "now() - interval '50 minutes'",
    },
  },
  {
    marker: "rejected",
    period: "202406",
    status: "rejected",
    attempts: 1,
    log: ["rejected"],
    set: {
      http_status: 409,
      dhis2_status: "ERROR",
      last_error: "Data set not found or not accessible",
      finished_at: "now() - interval '40 minutes'",
    },
  },
  {
    marker: "dead",
    period: "202407",
    status: "dead",
    attempts: 5,
    log: ["retry", "retry", "lease_expired", "retry", "dead"],
    set: {
      attempts_at_requeue: 2,
      max_attempts: 3,
      credential_problem: true,
      http_status: 401,
      last_error: "gave up after 3 attempt(s): destination credential problem: HTTP 401",
      requeued_at: "now() - interval '2 hours'",
      requeued_by: "admin",
      finished_at: "now() - interval '30 minutes'",
    },
  },
];

/** Inserts a row the way the previous version stored it, with its attempts. */
async function insertOld(sql: Sql, r: OldRow): Promise<number> {
  const payload = {
    dataSet: DATA_SET,
    period: r.period,
    orgUnit: ORG_UNIT,
    dataValues: [{ dataElement: "f7n9E0hX8qk", value: String(ROWS.indexOf(r) + 1) }],
  };
  const [{ id }] = await sql`
    insert into submissions (
      user_uid, username, source_name, idempotency_key, request_hash, org_unit, period, data_set,
      request, payload, codes, status, attempts, max_attempts, created_at, updated_at
    ) values (
      'uTester0001', 'tester', 'default', ${"key-" + r.marker}, ${r.marker}, ${ORG_UNIT},
      ${r.period}, ${DATA_SET}, ${JSON.stringify({ dataValues: { ANC1: r.marker } })}::text::jsonb,
      ${JSON.stringify(payload)}::text::jsonb, ${["ANC1"]}::text[], ${r.status}, ${r.attempts}, 9,
      now() - interval '3 hours', now() - interval '10 minutes'
    ) returning id`;
  for (const [column, value] of Object.entries(r.set ?? {})) {
    // Test-only literals from the table above; SQL expressions for times and jsonb.
    const literal = typeof value === "string" && !/^(now\(\)|')/.test(value)
      ? `'${value.replaceAll("'", "''")}'`
      : String(value);
    await sql.unsafe(`update submissions set ${column} = ${literal} where id = ${id}`);
  }
  for (const [i, outcome] of r.log.entries()) {
    await sql`
      insert into submission_attempts (
        submission_id, number, worker, started_at, finished_at, duration_ms, outcome,
        http_status, error, conflicts, credential_problem
      ) values (
        ${id}, ${i + 1}, ${"w" + i}, now() - make_interval(mins => ${60 - i}),
        now() - make_interval(mins => ${60 - i}) + interval '42 milliseconds', 42, ${outcome},
        ${outcome === "delivered" ? 200 : 503}, ${outcome === "delivered" ? null : "busy"},
        ${outcome === "partial" ? JSON.stringify(CONFLICT) : null}::text::jsonb, ${i % 2 === 1}
      )`;
  }
  return id;
}

const pick = (row: Loose, columns: string[]) => Object.fromEntries(columns.map((c) => [c, row[c]]));

dbTest("0008 moves every submission's job to its delivery, then the queue carries on", async () => {
  const db = await createTestDb("migrate_deliveries", { migrated: false });
  const sim = await startSimulator();
  const { log } = captureLogger("warn");
  let delivery: Awaited<ReturnType<typeof startDelivery>> | undefined;
  try {
    const code = await loadMigrations();
    const previous = code.filter((m) => m.version <= 7);
    assert.deepEqual(previous.map((m) => m.version), [1, 2, 3, 4, 5, 6, 7]);
    await migrate(db.sql, log, previous);

    // The kind's ordering key is exactly 0006's SQL function, which 0008 drops.
    for (
      const period of ["202401", "2024-01", "20240105", "2024-01-05", "2024W1", "2024W01", "2024Q1"]
    ) {
      const [{ key }] = await db.sql`select submission_ordering_key('ou1', ${period}) as key`;
      assert.equal(aggregateOrderingKey("ou1", period), key, period);
    }

    const ids: number[] = [];
    for (const r of ROWS) ids.push(await insertOld(db.sql, r));
    const before = await db.sql<Loose[]>`select * from submissions order by id`;
    const attemptsBefore = await db.sql<Loose[]>`
      select * from submission_attempts order by submission_id, number`;
    assert.equal(attemptsBefore.length, 10);

    const upTo8 = code.filter((m) => m.version <= 8);
    assert.deepEqual((await migrate(db.sql, log, upTo8)).applied, [8]);

    const after = await db.sql<Loose[]>`select * from submissions order by id`;
    const deliveries = await db.sql<Loose[]>`select * from deliveries order by id`;
    assert.equal(after.length, ROWS.length);
    assert.equal(deliveries.length, ROWS.length);
    for (const [i, old] of before.entries()) {
      const d = deliveries[i];
      assert.deepEqual(pick(after[i], ["id", ...SUBMISSION_COLUMNS]), {
        id: old.id,
        ...pick(old, SUBMISSION_COLUMNS),
      }, ROWS[i].marker);
      assert.equal(after[i].kind, "aggregate");
      for (const gone of JOB_COLUMNS.filter((c) => !SUBMISSION_COLUMNS.includes(c))) {
        if (gone === "updated_at") continue;
        assert.equal(gone in after[i], false, `submissions.${gone} is gone`);
      }
      assert.deepEqual(pick(d, JOB_COLUMNS), pick(old, JOB_COLUMNS), ROWS[i].marker);
      assert.deepEqual(
        [d.id, d.submission_id, d.destination, d.kind, d.ordering_key],
        [old.id, old.id, "default", "aggregate", aggregateOrderingKey(ORG_UNIT, old.period)],
      );
    }
    const attemptsAfter = await db.sql<Loose[]>`
      select * from delivery_attempts order by delivery_id, number`;
    assert.deepEqual(
      attemptsAfter.map(({ delivery_id, ...rest }) => ({ submission_id: delivery_id, ...rest })),
      attemptsBefore.map((a) => ({ ...a })),
    );
    const [{ exists }] = await db.sql`
      select to_regclass('submission_attempts') is not null as exists`;
    assert.equal(exists, false);

    // A real worker of this version, against the simulator: the rescuer takes back the lease
    // the old worker left, and the queued, retrying and rescued ones are delivered; `waiting`
    // after `retrying`, whose key it shares.
    const config = testConfig({
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: DEFAULT_USERNAME,
      DHIS2GW_DHIS2_PASSWORD: DEFAULT_PASSWORD,
      DHIS2GW_REQUEST_PROCESS_INTERVAL: "1",
      // One import per delivery, so the posts show FIFO per key (a batch would carry both).
      DHIS2GW_BATCH_MAX_VALUES: "0",
    });
    // Then the rest of today's migrations (0009 holds deliveries behind an older one of their
    // key), and the queue carries on.
    assert.deepEqual(
      (await migrate(db.sql, log, code)).applied,
      code.filter((m) => m.version > 8).map((m) => m.version),
    );
    delivery = await startDelivery({
      config,
      sql: db.sql,
      log,
      wakeup: new Wakeup(),
      breakers: new CircuitBreakers(),
      destination: dhis2Destination(config),
    });
    const waiting = ["queued", "running", "retrying", "waiting"].map((m) =>
      ids[ROWS.findIndex((r) => r.marker === m)]
    );
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [{ n }] = await db.sql`
        select count(*)::int as n from submissions
        where id = any(${waiting}) and status = 'delivered'`;
      if (n === waiting.length) break;
      if (Date.now() > deadline) {
        const rows = await db.sql`select id, status, attempts, last_error from deliveries`;
        assert.fail(`only ${n} of ${waiting.length} delivered: ${JSON.stringify(rows)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const logOf = async (id: number) =>
      (await db.sql`
        select a.number, a.outcome from delivery_attempts a join deliveries d
        on d.id = a.delivery_id where d.submission_id = ${id} order by a.number`)
        .map((a) => `${a.number}:${a.outcome}`);
    assert.deepEqual(await logOf(waiting[0]), ["1:delivered"]);
    assert.deepEqual(await logOf(waiting[1]), ["1:lease_expired", "2:delivered"]);
    assert.deepEqual(await logOf(waiting[2]), ["1:retry", "2:retry", "3:delivered"]);
    assert.deepEqual(await logOf(waiting[3]), ["1:delivered"]);
    const posted = sim.received.filter((r) => r.path === "/api/dataValueSets")
      .map((r) => (r.body as { period: string }).period);
    assert.equal(posted.length, 4);
    assert.ok(
      posted.indexOf("2024-03") < posted.indexOf("202403"),
      `FIFO per key kept across the move: ${posted}`,
    );
    // The finished ones are untouched.
    const finished = await db.sql<Loose[]>`
      select s.id, s.status, d.attempts, d.finished_at from submissions s
      join deliveries d on d.submission_id = s.id
      where s.id <> all(${waiting}) order by s.id`;
    assert.deepEqual(
      finished.map((r) => [r.id, r.status, r.attempts, r.finished_at]),
      before.filter((b) => !waiting.includes(b.id)).map((
        b,
      ) => [b.id, b.status, b.attempts, b.finished_at]),
    );
  } finally {
    await delivery?.stop(5000);
    await sim.stop();
    await db.close();
  }
});
