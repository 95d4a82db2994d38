/**
 * The status trigger on intake's INSERTs (migration 0023). A queued delivery of a submission the
 * same transaction inserted as queued changes no summary, and no other session can see that
 * submission, so the trigger returns without locking it or counting its deliveries. Every other
 * insert keeps the general path: a delivery added to an older submission, one inserted already
 * finished, and rows written under a savepoint.
 */
import assert from "node:assert/strict";
import { connect, type Db, type Sql } from "../src/db/db.ts";
import { captureLogger } from "../src/logs/logger.ts";
import {
  autoExplain,
  insertSubmissions as insert,
  ownKeySubmission as submission,
} from "./support/plans.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

/** A delivery row of `submissionId` inserted as it stands, status and all. */
const addDelivery = (sql: Db, submissionId: number, destination: string, status = "queued") =>
  sql`insert into deliveries (submission_id, destination, kind, ordering_key, max_attempts,
        status, finished_at)
      values (${submissionId}, ${destination}, 'aggregate', ${"k" + submissionId}, 3, ${status},
        case when ${status} in ('delivered', 'rejected', 'dead') then now() end)`;

const summary = async (sql: Db, id: number) =>
  (await sql`select status, finished_at from submissions where id = ${id}`)[0];

/** The statements the status trigger ran during `run`, as auto_explain saw them. */
async function triggerStatements(
  run: (sql: Sql) => Promise<unknown>,
  url: string,
): Promise<string[]> {
  const { log, lines } = captureLogger();
  const sql = connect({ url, max: 1, log });
  try {
    const explained = await autoExplain(sql, lines);
    await run(sql);
    return explained().map((p) => p["Query Text"]).filter((q) => !/jsonb_to_recordset/.test(q));
  } finally {
    await sql.end();
  }
}

dbTest("intake's insert neither locks nor recounts its new submissions", async () => {
  const db = await createTestDb("summary_trigger_intake");
  try {
    for (const group of [[submission(1)], [submission(2), submission(3), submission(4)]]) {
      const ran = await triggerStatements(async (sql) => {
        const rows = await insert(sql, group);
        assert.equal(rows.length, group.length);
      }, db.url);
      // The trigger ran (its check is there) and stopped at it: before 0023 it locked each
      // submission FOR UPDATE and compared it with its deliveries' summary in an UPDATE.
      assert.ok(ran.some((q) => /pg_current_xact_id/.test(q)), ran.join("\n---\n"));
      assert.deepEqual(ran.filter((q) => /for update|update submissions/i.test(q)), []);
    }
    const statuses = await db.sql`select distinct status from submissions`;
    assert.deepEqual(statuses.map((r) => r.status), ["queued"]);
    // A claim of one of them still takes the trigger's other paths.
    const ran = await triggerStatements(async (sql) => {
      await sql`update deliveries set status = 'running'
        where submission_id = (select min(id) from submissions)`;
    }, db.url);
    assert.ok(ran.some((q) => /update submissions/i.test(q)));
    const [first] = await db.sql`select status from submissions order by id limit 1`;
    assert.equal(first.status, "running");
  } finally {
    await db.close();
  }
});

dbTest("every other insert of deliveries still recounts the submission", async () => {
  const db = await createTestDb("summary_trigger_intake_general");
  try {
    const [old] = await insert(db.sql, [submission(1)]);
    await db.sql`update deliveries set status = 'delivered', finished_at = now()
      where submission_id = ${old.id}`;
    assert.equal((await summary(db.sql, old.id)).status, "delivered");

    // A new queued delivery of an older submission (a new destination, a requeue).
    await addDelivery(db.sql, old.id, "second");
    const after = await summary(db.sql, old.id);
    assert.equal(after.status, "queued");
    assert.equal(after.finished_at, null);

    // A delivery inserted already finished, in intake's own transaction.
    await db.sql.begin(async (tx) => {
      const [fresh] = await insert(tx, [submission(2)]);
      await tx`update deliveries set status = 'delivered', finished_at = now()
        where submission_id = ${fresh.id}`;
      await addDelivery(tx, fresh.id, "second", "rejected");
      // The worse of the two outcomes (0008's ranking).
      assert.equal((await summary(tx, fresh.id)).status, "rejected");
    });

    // A delivery inserted other than queued beside intake's queued one, in its own transaction:
    // the worse-ranked status (retrying) wins, so the insert must not take intake's shortcut.
    await db.sql.begin(async (tx) => {
      const [fresh] = await insert(tx, [submission(4)]);
      await addDelivery(tx, fresh.id, "second", "retrying");
      assert.equal((await summary(tx, fresh.id)).status, "retrying");
    });

    // A submission this transaction inserted as other than queued (an import of history).
    await db.sql.begin(async (tx) => {
      const [imported] = await insert(tx, [submission(3)]);
      await tx`update deliveries set status = 'delivered', finished_at = now()
        where submission_id = ${imported.id}`;
      assert.equal((await summary(tx, imported.id)).status, "delivered");
      await addDelivery(tx, imported.id, "second");
      const s = await summary(tx, imported.id);
      assert.equal(s.status, "queued");
      assert.equal(s.finished_at, null);
    });

    // Under a savepoint the rows carry the subtransaction's xid: the general path, which locks.
    const ran = await triggerStatements(async (sql) => {
      await sql.begin(async (tx) => {
        await tx.savepoint(async (sp) => {
          const [inner] = await insert(sp, [submission(5)]);
          assert.equal((await summary(sp, inner.id)).status, "queued");
        });
      });
    }, db.url);
    assert.ok(ran.some((q) => /for update/i.test(q)), ran.join("\n---\n"));
  } finally {
    await db.close();
  }
});
