import assert from "node:assert/strict";
import { DEFAULT_COST, ImportCost } from "./simulator_cost.ts";

Deno.test("the cost model runs at most `concurrency` imports at once, the rest in arrival order", async () => {
  const cost = new ImportCost({ fixedMs: 1, perValueMs: 0.5, concurrency: 2 });
  const slept: number[] = [];
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const sleep = async (ms: number) => {
    slept.push(ms);
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
  };
  const clock = () => 0;
  await Promise.all(
    [0, 1, 2, 3, 4, 5].map((i) => cost.run(10 * i, sleep, () => order.push(i), clock)),
  );
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(slept, [1, 6, 11, 16, 21, 26], "fixed + per value × values");
  assert.deepEqual(cost.stats, {
    imports: 6,
    values: 150,
    peakQueued: 4,
    workMs: 0,
    overruns: 0,
    lateMs: 0,
  });
});

Deno.test("the simulator's own work is part of an import's cost, not added to it", async () => {
  const cost = new ImportCost({ fixedMs: 100, perValueMs: 1, concurrency: 1 });
  let t = 0;
  const slept: number[] = [];
  // The first sleep ends 7 ms late (the thread was busy): counted as the simulator's lateness.
  const sleep = (ms: number) => {
    slept.push(ms);
    t += ms + (slept.length === 1 ? 7 : 0);
    return Promise.resolve();
  };
  // 30 ms of work: 120 − 30 left to wait; work longer than the cost waits no more (no timer).
  assert.equal(await cost.run(20, sleep, () => (t += 30, "a"), () => t), "a");
  assert.equal(await cost.run(20, sleep, () => (t += 500, "b"), () => t), "b");
  // Parsing the body before the model saw it counts too.
  assert.equal(await cost.run(20, sleep, () => (t += 10, "c"), () => t, 25), "c");
  assert.deepEqual(slept, [90, 85]);
  assert.equal(cost.stats.workMs, 565);
  assert.equal(cost.stats.overruns, 1);
  assert.equal(cost.stats.lateMs, 7);
});

Deno.test("an instant DHIS2 (zero cost) answers without a timer", async () => {
  const cost = new ImportCost({ fixedMs: 0, perValueMs: 0, concurrency: 1 });
  let slept = 0;
  const sleep = () => (slept++, Promise.resolve());
  assert.equal(await cost.run(10, sleep, () => "ok"), "ok");
  assert.equal(slept, 0);
});

Deno.test("the ceiling: every slot busy, whole waves of imports", () => {
  assert.deepEqual(DEFAULT_COST, { fixedMs: 150, perValueMs: 0.05, concurrency: 4 });
  // 10,000 imports of 10 values, 4 at a time: 2,500 waves of 150.5 ms.
  assert.equal(ImportCost.ceilingMs(DEFAULT_COST, 10_000, 10), 376_250);
  // 10 imports of 10,000 values: 3 waves of 650 ms.
  assert.equal(ImportCost.ceilingMs(DEFAULT_COST, 10, 10_000), 1950);
});
