/**
 * The worker's LISTEN through a database outage (issue 10, item 3): after the connection is
 * lost and the database is back, notifications wake the worker again, with no restart.
 */
import assert from "node:assert/strict";
import { connect } from "../src/db/db.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { notifyWorkers } from "../src/queue/queries.ts";
import { listenForWork, Wakeup } from "../src/queue/wakeup.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { startTcpProxy } from "./support/tcp_proxy.ts";

dbTest("LISTEN wakes the worker again after the database was away", async () => {
  const db = await createTestDb("listen_outage");
  const proxy = startTcpProxy(Number(new URL(db.url).port));
  const sql = connect({ url: proxy.url(db.url), max: 2 });
  const wakeup = new Wakeup();
  const listener = await listenForWork(sql, wakeup, captureLogger().log);
  try {
    assert.equal(await wakeup.wait(0), "wake", "the first LISTEN wakes the worker");
    await notifyWorkers(db.sql);
    assert.equal(await wakeup.wait(5000), "wake");

    // Several failed re-LISTENs: postgres.js' default delay between them grows to 2.4 s
    // after five and 7 s after six, so the worker stayed deaf for seconds after the outage.
    proxy.down();
    await new Promise((r) => setTimeout(r, 4000));
    proxy.up();
    const back = performance.now();
    // The re-LISTEN wakes the worker (notifications sent meanwhile were lost)...
    assert.equal(await wakeup.wait(2000), "wake", "woken when the LISTEN is back");
    const relisten = performance.now() - back;
    // ...and notifications arrive again.
    const t0 = performance.now();
    await notifyWorkers(db.sql);
    assert.equal(await wakeup.wait(3000), "wake", "a NOTIFY after the outage arrives");
    console.log(
      `LISTEN back ${Math.round(relisten)} ms after the outage; a NOTIFY then arrived in ${
        Math.round(performance.now() - t0)
      } ms`,
    );
  } finally {
    await listener.close().catch(() => {});
    proxy.close();
    await sql.end({ timeout: 1 });
    await db.close();
  }
});
