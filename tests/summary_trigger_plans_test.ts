/**
 * The status trigger (migrations 0008, 0020, 0022) looks up the submissions and deliveries of
 * the rows a statement changed by index, whatever the statistics its plans were made on.
 * PL/pgSQL keeps a plan for the session: made while the tables were small, it was a sequential
 * scan of deliveries hashed against the changed rows, which then read every delivery on every
 * intake statement and every outcome (4,353 rows for 32 changed, 2.1 ms instead of 0.1, and
 * intake at half its rate, until autovacuum's next ANALYZE). Here the plans are made on a
 * nearly empty database, 3,000 submissions are added by another session without an ANALYZE,
 * and auto_explain (sent to this session as notices) shows what the next statement read.
 */
import assert from "node:assert/strict";
import { connect } from "../src/db/db.ts";
import { captureLogger } from "../src/logs/logger.ts";
import {
  autoExplain,
  insertSubmissions as insert,
  ownKeySubmission as submission,
  rowsRead,
} from "./support/plans.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest("the status trigger reads changed rows by index on stale statistics", async () => {
  const db = await createTestDb("summary_trigger_plans");
  const { log, lines } = captureLogger();
  const sql = connect({ url: db.url, max: 1, log });
  try {
    await db.sql`alter table deliveries set (autovacuum_enabled = off)`;
    await db.sql`alter table submissions set (autovacuum_enabled = off)`;
    for (let i = 0; i < 3; i++) await insert(db.sql, [submission(i)]);
    await db.sql`analyze`;
    // This session's trigger plans are made now, on three rows.
    for (let i = 3; i < 9; i++) await insert(sql, [submission(i)]);
    for (let i = 100; i < 3100; i += 100) {
      await insert(db.sql, Array.from({ length: 100 }, (_, k) => submission(i + k)));
    }
    const explained = await autoExplain(sql, lines, { analyze: true });
    const rows = await insert(sql, [submission(5000), submission(5001), submission(5002)]);
    // A claim (to running) and an outcome (to delivered) of the same three: the trigger's
    // other branch, and its general one again.
    const ids = rows.map((r) => r.id);
    await sql`update deliveries set status = 'running' where submission_id in ${sql(ids)}`;
    await sql`update deliveries set status = 'delivered', finished_at = now()
      where submission_id in ${sql(ids)}`;
    const summary = await sql`select status from submissions where id in ${sql(ids)}`;
    assert.deepEqual(summary.map((r) => r.status), ["delivered", "delivered", "delivered"]);
    const trigger = explained().filter((p) =>
      !/jsonb_to_recordset|update deliveries|from submissions where id in \$/.test(p["Query Text"])
    );
    // The intake statement stops at the trigger's check (0023); the claim and the outcome each
    // take the lock and an UPDATE (the claim's has no aggregate).
    assert.ok(trigger.length >= 6, `the trigger's statements: ${trigger.length}`);
    for (const p of trigger) {
      const text = p["Query Text"].replace(/\s+/g, " ").slice(0, 60);
      // Each changed submission once; its delivery twice at most (the new status, and whether
      // it differs from the stored one).
      for (const [table, most] of [["deliveries", 6], ["submissions", 3]] as const) {
        const read = rowsRead(p.Plan, (n) => n["Relation Name"] === table);
        assert.ok(read <= most, `${text}…: ${read} rows of ${table} read for 3 changed`);
      }
    }
  } finally {
    await sql.end();
    await db.close();
  }
});
