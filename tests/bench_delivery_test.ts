/**
 * The delivery benchmark scaled down for CI (issue 13): 1,000 submissions of 10 values into a
 * cheap cost model (2 ms + 0.005 ms per value, 4 at once), batching off and on. It checks the
 * outcomes (every submission delivered, every value stored as sent, the number of imports), not
 * the times; `deno task bench` measures those at full size.
 */
import assert from "node:assert/strict";
import { deliveryBench } from "../scripts/bench_delivery.ts";
import { dbTest, PG_URL } from "./support/pg.ts";

dbTest("delivery bench, scaled down: batching off and on deliver every value exactly", async () => {
  const lines: string[] = [];
  const results = await deliveryBench({
    serverUrl: PG_URL!,
    submissions: 1000,
    cost: { fixedMs: 2, perValueMs: 0.005, concurrency: 4 },
    maxValues: [0, 500],
    workerConcurrency: 8,
    graphile: false,
    dbPrefix: `t_bench_${crypto.randomUUID().slice(0, 8)}`,
    timeline: true,
    rounds: 3,
    log: (line) => lines.push(line),
  });
  assert.deepEqual(
    results.map((r) => [r.scenario, r.imports, r.outcomesExact, r.problems]),
    [
      ["(a) batching off", 1000, true, []],
      ["(b) batching, max_values 500", 20, true, []],
    ],
  );
  // --timeline: one line per batch (batching on only), its import before its record.
  const batches = lines.filter((l) => l.includes("(from delivery"));
  assert.equal(batches.length, 3 * 20, "20 batches in each of 3 rounds");
  // Batching runs 3 rounds and reports the median one; batching off runs once.
  const [off, on] = results;
  assert.equal(off.rounds, undefined);
  assert.equal(on.rounds?.length, 3);
  const walls = on.rounds!.map((r) => r.wallMs).sort((a, b) => a - b);
  assert.equal(on.wallMs, walls[1]);
  for (const line of batches) {
    const m = line.match(/import +(\d+) -> +(\d+) ms \(HTTP +(\d+) ms\), recorded +(\d+) ms/);
    assert.ok(m, line);
    const [start, end, http, recorded] = m.slice(1).map(Number);
    assert.ok(start <= end && end <= recorded, line);
    assert.ok(http <= end - start + 1, `the HTTP exchange is part of the import: ${line}`);
  }
});
