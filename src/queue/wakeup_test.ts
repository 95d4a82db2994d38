import assert from "node:assert/strict";
import { Wakeup, WorkNotifier } from "./wakeup.ts";
import type { Sql } from "../db/db.ts";
import { captureLogger } from "../logs/logger.ts";

Deno.test("a wake before the wait is not lost; one wake serves one wait", async () => {
  const w = new Wakeup();
  w.wake();
  assert.equal(await w.wait(10_000), "wake");
  assert.equal(await w.wait(1), "timeout");
});

Deno.test("a wake resolves every waiter; abort ends a wait", async () => {
  const w = new Wakeup();
  const a = w.wait(10_000);
  const b = w.wait(10_000);
  w.wake();
  assert.deepEqual(await Promise.all([a, b]), ["wake", "wake"]);
  const stop = new AbortController();
  const c = w.wait(10_000, stop.signal);
  stop.abort();
  assert.equal(await c, "abort");
  assert.equal(await w.wait(10_000, stop.signal), "abort");
});

Deno.test("WorkNotifier: a slow server gets one NOTIFY in flight, never a queue of them", async () => {
  let sent = 0;
  let open = 0;
  let maxOpen = 0;
  // A tagged-template stand-in for the pool whose NOTIFY takes 50 ms.
  const slowSql = (() => {
    sent++;
    maxOpen = Math.max(maxOpen, ++open);
    return new Promise((r) => setTimeout(() => r([]), 50)).finally(() => open--);
  }) as unknown as Sql;
  const notifier = new WorkNotifier(slowSql, captureLogger("warn").log, 10);
  const until = performance.now() + 300;
  while (performance.now() < until) {
    notifier.notify();
    await new Promise((r) => setTimeout(r, 1));
  }
  const t0 = performance.now();
  await notifier.close();
  assert.ok(performance.now() - t0 < 120, "close waits for one NOTIFY at most");
  assert.equal(maxOpen, 1);
  assert.ok(sent >= 4 && sent <= 8, `${sent} NOTIFYs for 300 ms of requests at 50 ms each`);
});
