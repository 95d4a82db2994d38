/**
 * The request log through a database outage (issue 10, item 3): rows are kept in a bounded
 * buffer while PostgreSQL is unreachable and written once it is back; what did not fit is
 * counted and logged. The outage is a TCP proxy taken down in front of the test database.
 */
import assert from "node:assert/strict";
import { connect } from "../src/db/db.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { RequestLogBuffer, type RequestLogEntry } from "../src/logs/request_log.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { startTcpProxy } from "./support/tcp_proxy.ts";

const t0 = Date.parse("2026-12-06T10:00:00Z");

function row(i: number, path = "/api/v3/aggregate"): RequestLogEntry {
  return {
    at: new Date(t0 + i * 1000),
    request_id: `rl-${i}`,
    user_uid: null,
    username: "clinic",
    method: "POST",
    path,
    status: i === 0 ? 200 : 503,
    duration_ms: 3,
    client_ip: "127.0.0.1",
  };
}

const messages = (lines: string[]) =>
  lines.map((l) => JSON.parse(l)).map(({ level, msg, dropped, firstAt, lastAt }) => ({
    level,
    msg,
    ...(dropped !== undefined ? { dropped, firstAt, lastAt } : {}),
  }));

async function setUp(label: string) {
  const db = await createTestDb(label);
  const proxy = startTcpProxy(Number(new URL(db.url).port));
  const sql = connect({ url: proxy.url(db.url), max: 2 });
  const { log, lines } = captureLogger("info");
  const stored = async () =>
    (await db.sql`select request_id from request_log order by at`).map((r) => r.request_id);
  return {
    db,
    proxy,
    sql,
    log,
    lines,
    stored,
    close: async () => {
      proxy.close();
      await sql.end({ timeout: 1 });
      await db.close();
    },
  };
}

dbTest(
  "request log rows are kept through an outage and written after; overflow is counted",
  async () => {
    const s = await setUp("request_log_outage");
    // The interval is beyond the test: only the explicit flushes write.
    const buf = new RequestLogBuffer(s.sql, s.log, { intervalMs: 600_000, maxBuffered: 5 });
    try {
      buf.add(row(0));
      await buf.flush();
      assert.deepEqual(await s.stored(), ["rl-0"]);

      s.proxy.down();
      for (let i = 1; i <= 8; i++) buf.add(row(i));
      await buf.flush();
      // Rows 1-5 fit; 6-8 did not.
      assert.deepEqual(buf.stats, { buffered: 5, dropped: 3 });
      await buf.flush(); // still down: kept again, nothing more lost
      assert.deepEqual(buf.stats, { buffered: 5, dropped: 3 });
      assert.deepEqual(await s.stored(), ["rl-0"]);

      s.proxy.up();
      await buf.flush();
      assert.deepEqual(buf.stats, { buffered: 0, dropped: 3 });
      assert.deepEqual(await s.stored(), ["rl-0", "rl-1", "rl-2", "rl-3", "rl-4", "rl-5"]);
      assert.deepEqual(messages(s.lines), [
        {
          level: "warn",
          msg: "request log buffer full: dropping new rows until the database is back",
        },
        {
          level: "warn",
          msg: "database unavailable: request log kept in memory until it is back",
        },
        { level: "info", msg: "request log written again after the database came back" },
        {
          level: "warn",
          msg: "request log rows dropped while the database was unavailable",
          dropped: 3,
          firstAt: row(6).at.toISOString(),
          lastAt: row(8).at.toISOString(),
        },
      ]);
    } finally {
      await buf.close();
      await s.close();
    }
  },
);

dbTest("the request log retries on its own timer once the database is back", async () => {
  const s = await setUp("request_log_retry");
  const buf = new RequestLogBuffer(s.sql, s.log, { intervalMs: 50 });
  try {
    s.proxy.down();
    buf.add(row(1));
    await buf.flush();
    assert.equal(buf.stats.buffered, 1);
    s.proxy.up();
    const deadline = Date.now() + 10_000;
    while ((await s.stored()).length === 0) {
      assert.ok(Date.now() < deadline, "the buffered row was never written");
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.deepEqual(await s.stored(), ["rl-1"]);
    assert.deepEqual(buf.stats, { buffered: 0, dropped: 0 });
  } finally {
    await buf.close();
    await s.close();
  }
});

dbTest("rows the database refuses are logged and dropped, not retried forever", async () => {
  const s = await setUp("request_log_poison");
  const buf = new RequestLogBuffer(s.sql, s.log, { intervalMs: 600_000 });
  try {
    // PostgreSQL refuses a NUL in text: this batch can never be written.
    buf.add(row(1, "/api/v3/\u0000"));
    await buf.flush();
    assert.deepEqual(buf.stats, { buffered: 0, dropped: 0 });
    buf.add(row(2));
    await buf.flush();
    assert.deepEqual(await s.stored(), ["rl-2"]);
    assert.deepEqual(messages(s.lines).map((m) => m.msg), ["could not write request log"]);
  } finally {
    await buf.close();
    await s.close();
  }
});

dbTest("rows that cannot be written at shutdown are counted in the log", async () => {
  const s = await setUp("request_log_shutdown");
  const buf = new RequestLogBuffer(s.sql, s.log, { intervalMs: 600_000 });
  try {
    s.proxy.down();
    buf.add(row(1));
    buf.add(row(2));
    await buf.close();
    const last = messages(s.lines).at(-1);
    assert.deepEqual(last, {
      level: "warn",
      msg: "request log rows lost at shutdown: the database is unavailable",
      dropped: 2,
      firstAt: row(1).at.toISOString(),
      lastAt: row(2).at.toISOString(),
    });
  } finally {
    await s.close();
  }
});
