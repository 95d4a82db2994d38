/**
 * The request-log buffer's caps (issue 18): memory held for request-log rows stays bounded by
 * rows and by bytes, including rows already handed to an INSERT that has not finished (a slow
 * database, not an absent one, kept those in a growing chain of pending writes).
 */
import assert from "node:assert/strict";
import type { Sql } from "../db/db.ts";
import { captureLogger } from "./logger.ts";
import { RequestLogBuffer, type RequestLogEntry } from "./request_log.ts";

function row(i: number, path = "/api/v3/aggregate"): RequestLogEntry {
  return {
    at: new Date(Date.UTC(2026, 11, 6, 10, 0, i)),
    request_id: `cap-${i}`,
    user_uid: null,
    username: "clinic",
    method: "POST",
    path,
    status: 200,
    duration_ms: 3,
    client_ip: "127.0.0.1",
  };
}

/** A pool whose INSERTs never finish until `release()`: a database that is slow, not gone. */
function stalledSql() {
  const waiting: Array<() => void> = [];
  let inserted = 0;
  let released = false;
  const sql = ((_strings: unknown, ...rest: unknown[]) => {
    // The tagged INSERT: each column one array parameter, the first one the rows' times.
    const rows = (rest[0] as unknown[]).length;
    if (released) return Promise.resolve(void (inserted += rows));
    return new Promise<void>((resolve) =>
      waiting.push(() => {
        inserted += rows;
        resolve();
      })
    );
  }) as unknown as Sql;
  return {
    sql,
    inserted: () => inserted,
    /** Finishes the INSERTs waiting, and lets every later one through at once. */
    release: () => {
      released = true;
      waiting.splice(0).forEach((go) => go());
    },
  };
}

Deno.test("request log cap: rows waiting on a slow INSERT count against maxBuffered", async () => {
  const db = stalledSql();
  const { log } = captureLogger("info");
  const buf = new RequestLogBuffer(db.sql, log, {
    intervalMs: 600_000,
    maxRows: 2,
    maxBuffered: 5,
  });
  for (let i = 0; i < 12; i++) buf.add(row(i));
  assert.deepEqual(buf.stats, { buffered: 5, dropped: 7 });
  db.release();
  await buf.close();
  assert.equal(db.inserted(), 5);
  assert.deepEqual(buf.stats, { buffered: 0, dropped: 7 });
});

Deno.test("request log cap: long rows are bounded by bytes, not only by count", () => {
  const db = stalledSql();
  const { log } = captureLogger("info");
  const buf = new RequestLogBuffer(db.sql, log, {
    intervalMs: 600_000,
    maxBuffered: 10_000,
    maxBufferedBytes: 64 * 1024,
  });
  // 10,000 characters of path each (a URL is not otherwise limited to less): about 20 KB.
  for (let i = 0; i < 20; i++) buf.add(row(i, `/api/v3/${"x".repeat(10_000)}`));
  assert.deepEqual(buf.stats, { buffered: 3, dropped: 17 });
});
