/**
 * The soak's growth rule (issue 18) on synthetic RSS samples shaped like a 30-minute run (one
 * sample every 3 s, warm-up the first 6 minutes): a steady climb of 0.6 MB a minute, which
 * the first/last-thirds rule alone let pass (+10 MB between the medians, under 16 MB), fails
 * on its slope; a flat line with GC sawtooth and noise passes; a short run is not judged on a
 * slope at all.
 */
import assert from "node:assert/strict";
import { growth, MIN_TREND_WINDOW_S, slopeMbPerHour } from "../scripts/soak.ts";

const LIMITS = { maxGrowthMb: 16, maxSlopeMbPerHour: 10 };
const WARMUP_S = 360;

/** A deterministic pseudo-random noise in [-1, 1). */
function noise(seed: number) {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 1073741824 - 1;
  };
}

/** 30 minutes of samples: warm-up rising to `base`, then `f(t)` plus GC sawtooth and noise. */
function run(f: (t: number) => number, seconds = 1800, every = 3) {
  const r = noise(7);
  return Array.from({ length: Math.floor(seconds / every) }, (_, i) => {
    const t = i * every;
    const gc = (t % 47) / 47 * 8; // the heap fills up to 8 MB and is collected
    const mb = t < WARMUP_S ? 90 + (t / WARMUP_S) * 60 : f(t) + gc + 2 * r();
    return { t, mb };
  });
}

Deno.test("soak rule: a least-squares slope in MB per hour", () => {
  assert.equal(slopeMbPerHour([{ t: 0, mb: 100 }, { t: 60, mb: 101 }, { t: 120, mb: 102 }]), 60);
  assert.equal(slopeMbPerHour([{ t: 0, mb: 100 }]), 0);
});

Deno.test("soak rule: +0.6 MB a minute after warm-up fails, though the thirds move 10 MB", () => {
  const g = growth(run((t) => 155 + (t - WARMUP_S) / 60 * 0.6), WARMUP_S, LIMITS);
  assert.ok(g.late_mb - g.early_mb < LIMITS.maxGrowthMb, JSON.stringify(g));
  assert.ok(g.slope_mb_per_h > 34 && g.slope_mb_per_h < 38, JSON.stringify(g));
  assert.equal(g.grown, true);
});

Deno.test("soak rule: flat with GC sawtooth and noise passes", () => {
  const g = growth(run(() => 155), WARMUP_S, LIMITS);
  assert.ok(Math.abs(g.slope_mb_per_h) < 2, JSON.stringify(g));
  assert.equal(g.early_mb, g.late_mb);
  assert.equal(g.grown, false);
  // A limit given as a number (the old signature) keeps the default slope limit.
  assert.equal(growth(run(() => 155), WARMUP_S, 16).grown, false);
});

Deno.test("soak rule: a step that stays fails on the thirds' medians", () => {
  const g = growth(run((t) => t < 1100 ? 155 : 185), WARMUP_S, LIMITS);
  assert.equal(g.late_mb - g.early_mb, 30);
  assert.equal(g.grown, true);
});

Deno.test("soak rule: a post-warm-up window under 5 minutes is not judged on its slope", () => {
  // A short CI soak: 10 s, warm-up 5 s, RSS still rising 1 MB a second as code warms up.
  const short = Array.from({ length: 40 }, (_, i) => ({ t: i / 4, mb: 120 + i / 4 }));
  const g = growth(short, 5, LIMITS);
  assert.ok(g.slope_mb_per_h > LIMITS.maxSlopeMbPerHour);
  assert.equal(g.grown, false);
  assert.equal(MIN_TREND_WINDOW_S, 300);
});
