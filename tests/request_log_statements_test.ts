/**
 * The request log's INSERT is one statement whatever the batch (issue 18's soak): a multi-row
 * VALUES list was a new prepared statement per row count and per pattern of nulls, nearly one
 * per flush, each kept by postgres.js (up to 2,000 a pool) and by the server session (up to
 * 1,000 a connection): `serve` grew 0.6 MB a minute at 50 requests/s.
 */
import assert from "node:assert/strict";
import { connect } from "../src/db/db.ts";
import { insertRequestLogs, type RequestLogEntry } from "../src/logs/request_log.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const t0 = Date.parse("2026-12-06T10:00:00.123Z");

/** Row j of batch k: nulls, refusals and identities vary as they do under real traffic. */
function row(k: number, j: number): RequestLogEntry {
  const refused = (k + j) % 3 === 0;
  return {
    at: new Date(t0 + k * 1000 + j),
    request_id: `b${k}-r${j}`,
    user_uid: refused ? null : "clinicUid01",
    username: (k * j) % 4 === 0 ? null : "clinic",
    method: j % 2 ? "GET" : "POST",
    path: `/api/v3/aggregate`,
    status: refused ? 422 : 200,
    duration_ms: k + j,
    client_ip: j % 5 === 0 ? null : "127.0.0.1",
    ...(refused
      ? {
        error_code: "VALIDATION_FAILED",
        error_message: `bad "period" {${k}}`,
        error_fields: j % 2 ? ["period", 'a "quoted", field'] : [],
      }
      : {}),
    token_prefix: k % 2 ? `dgw_${k}` : null,
    identity_verified: [null, true, false][(k + j) % 3],
  };
}

dbTest("request log: batches of any size and nulls share one prepared statement", async () => {
  const db = await createTestDb("request_log_statements");
  // One connection: pg_prepared_statements is per session, and every INSERT goes through it.
  const sql = connect({ url: db.url, max: 1 });
  try {
    const written: RequestLogEntry[] = [];
    for (let k = 1; k <= 40; k++) {
      const batch = Array.from({ length: (k * 7) % 23 + 1 }, (_, j) => row(k, j));
      await insertRequestLogs(sql, batch);
      written.push(...batch);
    }
    const [{ n }] = await sql`
      select count(*)::int as n from pg_prepared_statements
      where ltrim(statement, E' \n') like 'insert into request_log%'`;
    assert.equal(n, 1);

    const stored = await db.sql`
      select at, request_id, user_uid, username, method, path, status, duration_ms, client_ip,
             error_code, error_message, error_fields, token_prefix, identity_verified
      from request_log order by id`;
    assert.equal(stored.length, written.length);
    const full = (r: RequestLogEntry) => ({
      ...r,
      error_code: r.error_code ?? null,
      error_message: r.error_message ?? null,
      error_fields: r.error_fields ?? null,
    });
    assert.deepEqual(stored.map((r) => ({ ...r })), written.map(full));
  } finally {
    await sql.end({ timeout: 1 });
    await db.close();
  }
});
