import assert from "node:assert/strict";
import { nextRunAt, type RetryOptions, shouldGiveUp } from "./retry_policy.ts";

const now = new Date("2025-03-01T12:00:00.000Z");
const opts: RetryOptions = { baseSeconds: 30, maxSeconds: 3600, jitter: 0.2 };

Deno.test("nextRunAt: table of attempts and random draws to exact dates", () => {
  // random 0.5 is the midpoint: no jitter. 0 is the low edge (×0.8), 0.75 gives ×1.1.
  const cases: [attempt: number, random: number, expected: string][] = [
    [1, 0.5, "2025-03-01T12:00:30.000Z"],
    [2, 0.5, "2025-03-01T12:01:00.000Z"],
    [3, 0.5, "2025-03-01T12:02:00.000Z"],
    [4, 0.5, "2025-03-01T12:04:00.000Z"],
    [7, 0.5, "2025-03-01T12:32:00.000Z"], // 30·2^6 = 1920 s
    [8, 0.5, "2025-03-01T13:00:00.000Z"], // 3840 s capped at 3600
    [50, 0.5, "2025-03-01T13:00:00.000Z"],
    [2000, 0.5, "2025-03-01T13:00:00.000Z"], // 2^1999 is Infinity: still the cap
    [1, 0, "2025-03-01T12:00:24.000Z"], // 30·0.8
    [1, 0.75, "2025-03-01T12:00:33.000Z"], // 30·1.1
    [3, 0.25, "2025-03-01T12:01:48.000Z"], // 120·0.9
    [8, 0, "2025-03-01T12:48:00.000Z"], // 3600·0.8
    [8, 0.75, "2025-03-01T13:06:00.000Z"], // 3600·1.1
    [1, 0.123456, "2025-03-01T12:00:25.481Z"], // 30·(1 + 0.2·(−0.753088)) = 25.481472 s
  ];
  for (const [attempt, r, expected] of cases) {
    assert.equal(
      nextRunAt(attempt, now, () => r, opts).toISOString(),
      expected,
      `attempt ${attempt}, random ${r}`,
    );
  }
});

Deno.test("nextRunAt: no jitter option means the plain exponential schedule", () => {
  const plain = { baseSeconds: 10, maxSeconds: 60 };
  const seconds = [1, 2, 3, 4, 5].map((a) =>
    (nextRunAt(a, now, () => 0.99, plain).getTime() - now.getTime()) / 1000
  );
  assert.deepEqual(seconds, [10, 20, 40, 60, 60]);
});

Deno.test("nextRunAt: never sooner than one second", () => {
  const tiny = { baseSeconds: 0.1, maxSeconds: 0.5, jitter: 0.5 };
  for (const a of [1, 2, 3, 10]) {
    assert.equal(nextRunAt(a, now, () => 0, tiny).getTime() - now.getTime(), 1000);
  }
});

Deno.test("nextRunAt: property check of the bounds over many draws", () => {
  // A seeded generator (mulberry32) so a failure reproduces.
  let seed = 20250301;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const configs: RetryOptions[] = [
    opts,
    { baseSeconds: 1, maxSeconds: 1, jitter: 0.9 },
    { baseSeconds: 5, maxSeconds: 86_400 },
    { baseSeconds: 60, maxSeconds: 600, jitter: 0.5 },
  ];
  for (const o of configs) {
    const j = o.jitter ?? 0;
    let previousMidpoint = 0;
    for (let attempt = 1; attempt <= 40; attempt++) {
      const mid = nextRunAt(attempt, now, () => 0.5, o).getTime() - now.getTime();
      assert.ok(mid >= previousMidpoint, "un-jittered delay never shrinks");
      previousMidpoint = mid;
      for (let i = 0; i < 250; i++) {
        const delay = nextRunAt(attempt, now, random, o).getTime() - now.getTime();
        const capped = Math.min(o.baseSeconds * 2 ** (attempt - 1), o.maxSeconds) * 1000;
        assert.ok(delay >= 1000, `${delay} below 1 s`);
        assert.ok(delay >= Math.floor(capped * (1 - j)), `${delay} below the jitter band`);
        assert.ok(delay <= Math.ceil(capped * (1 + j)), `${delay} above the jitter band`);
        assert.ok(delay <= Math.ceil(o.maxSeconds * (1 + j) * 1000), `${delay} above the cap`);
      }
    }
  }
});

Deno.test("nextRunAt refuses bad input instead of scheduling nonsense", () => {
  const r = () => 0.5;
  for (const attempt of [0, -1, 1.5, NaN]) {
    assert.throws(() => nextRunAt(attempt, now, r, opts), RangeError, String(attempt));
  }
  for (const bad of [1, -0.1, NaN]) {
    assert.throws(() => nextRunAt(1, now, () => bad, opts), RangeError, String(bad));
  }
  const badOptions: RetryOptions[] = [
    { baseSeconds: 0, maxSeconds: 10 },
    { baseSeconds: 10, maxSeconds: 5 },
    { baseSeconds: 10, maxSeconds: Infinity },
    { baseSeconds: 10, maxSeconds: 60, jitter: 1 },
    { baseSeconds: 10, maxSeconds: 60, jitter: -0.1 },
  ];
  for (const o of badOptions) {
    assert.throws(() => nextRunAt(1, now, r, o), RangeError, JSON.stringify(o));
  }
});

Deno.test("shouldGiveUp: max_retries counts retries, so attempts = max_retries + 1", () => {
  const cases: [attempt: number, maxRetries: number, giveUp: boolean][] = [
    [1, 0, true], // no retries: the first failure is final
    [1, 1, false],
    [2, 1, true],
    [1, 5, false],
    [5, 5, false],
    [6, 5, true],
    [7, 5, true], // past the limit (e.g. max_retries lowered meanwhile)
  ];
  for (const [attempt, maxRetries, expected] of cases) {
    assert.equal(shouldGiveUp(attempt, maxRetries), expected, `${attempt}/${maxRetries}`);
  }
  assert.throws(() => shouldGiveUp(0, 5), RangeError);
  assert.throws(() => shouldGiveUp(1, -1), RangeError);
  assert.throws(() => shouldGiveUp(1, 2.5), RangeError);
});
