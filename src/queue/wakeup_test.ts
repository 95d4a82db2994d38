import assert from "node:assert/strict";
import { Wakeup } from "./wakeup.ts";

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
