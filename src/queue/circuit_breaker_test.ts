import assert from "node:assert/strict";
import { CircuitBreaker, CircuitBreakers } from "./circuit_breaker.ts";

const t0 = Date.parse("2025-03-01T12:00:00.000Z");
/** The clock, `s` seconds after t0. */
const at = (s: number) => new Date(t0 + s * 1000);
const iso = (s: number) => at(s).toISOString();

const opts = {
  failureThreshold: 3,
  cooldownMs: 30_000,
  cooldownMultiplier: 2,
  maxCooldownMs: 100_000,
  probeTimeoutMs: 60_000,
};

/** A breaker opened at `s` seconds by `failureThreshold` failures. */
function openedAt(s: number) {
  const b = new CircuitBreaker(opts);
  for (let i = 0; i < 3; i++) b.onFailure(at(s));
  return b;
}

Deno.test("closed: below the threshold stays closed, a success resets the count", () => {
  const b = new CircuitBreaker(opts);
  assert.equal(b.state(at(0)), "closed");
  assert.equal(b.onFailure(at(1)), "closed");
  assert.equal(b.onFailure(at(2)), "closed");
  assert.equal(b.snapshot(at(2)).consecutiveFailures, 2);
  assert.equal(b.onSuccess(at(3)), "closed");
  assert.equal(b.onFailure(at(4)), "closed");
  assert.equal(b.onFailure(at(5)), "closed", "the count restarted after the success");
  assert.equal(b.canAttempt(at(5)), true);
  assert.deepEqual(b.snapshot(at(5)), {
    state: "closed",
    consecutiveFailures: 2,
    openedAt: null,
    nextProbeAt: null,
    cooldownMs: 30_000,
    probeInFlight: false,
  });
});

Deno.test("closed -> open on the Nth consecutive failure; no attempts during the cool-down", () => {
  const b = new CircuitBreaker(opts);
  b.onFailure(at(0));
  b.onFailure(at(1));
  assert.equal(b.onFailure(at(2)), "open");
  assert.deepEqual(b.snapshot(at(2)), {
    state: "open",
    consecutiveFailures: 3,
    openedAt: at(2),
    nextProbeAt: at(32),
    cooldownMs: 30_000,
    probeInFlight: false,
  });
  for (const s of [2, 10, 31.999]) {
    assert.equal(b.canAttempt(at(s)), false, `at ${s}s`);
    assert.equal(b.state(at(s)), "open", `at ${s}s`);
  }
});

Deno.test("open -> half_open at nextProbeAt, exactly one probe at a time", () => {
  const b = openedAt(0);
  assert.equal(b.state(at(30)), "half_open");
  assert.equal(b.canAttempt(at(30)), true, "the probe");
  assert.equal(b.canAttempt(at(30)), false, "a second caller waits for the probe");
  assert.equal(b.canAttempt(at(45)), false);
  assert.equal(b.snapshot(at(45)).probeInFlight, true);
  assert.equal(b.state(at(45)), "half_open");
});

Deno.test("half_open -> closed when the probe succeeds, cool-down back to its start", () => {
  const b = openedAt(0);
  b.canAttempt(at(30));
  b.onFailure(at(31)); // probe fails: 60 s
  assert.equal(b.canAttempt(at(91)), true);
  assert.equal(b.onSuccess(at(92)), "closed");
  assert.equal(b.canAttempt(at(92)), true);
  assert.equal(b.canAttempt(at(92)), true, "closed lets everyone through");
  assert.deepEqual(b.snapshot(at(92)), {
    state: "closed",
    consecutiveFailures: 0,
    openedAt: null,
    nextProbeAt: null,
    cooldownMs: 30_000,
    probeInFlight: false,
  });
  // The next outage starts again from the first cool-down, not from the grown one.
  for (let i = 0; i < 3; i++) b.onFailure(at(100));
  assert.equal(b.snapshot(at(100)).nextProbeAt?.toISOString(), iso(130));
});

Deno.test("half_open -> open when the probe fails, with a growing, capped cool-down", () => {
  const b = openedAt(0);
  const probes: string[] = [];
  let t = 30;
  for (const expectedCooldown of [60, 100, 100]) {
    assert.equal(b.canAttempt(at(t)), true, `probe at ${t}s`);
    probes.push(iso(t));
    assert.equal(b.onFailure(at(t + 1)), "open");
    const snap = b.snapshot(at(t + 1));
    assert.equal(snap.cooldownMs, expectedCooldown * 1000);
    assert.equal(snap.nextProbeAt?.toISOString(), iso(t + 1 + expectedCooldown));
    assert.equal(snap.openedAt?.toISOString(), iso(0), "open since the first trip");
    assert.equal(snap.probeInFlight, false);
    assert.equal(b.canAttempt(at(t + expectedCooldown)), false, "still cooling down");
    t = t + 1 + expectedCooldown;
  }
  assert.deepEqual(probes, [iso(30), iso(91), iso(192)]);
  assert.equal(b.snapshot(at(t)).consecutiveFailures, 6);
});

Deno.test("a probe that never reports back stops blocking after probeTimeoutMs", () => {
  const b = openedAt(0);
  assert.equal(b.canAttempt(at(30)), true);
  assert.equal(b.canAttempt(at(89.999)), false);
  assert.equal(b.snapshot(at(90)).probeInFlight, false);
  assert.equal(b.canAttempt(at(90)), true, "a replacement probe");
  assert.equal(b.canAttempt(at(90)), false);
  assert.equal(b.onFailure(at(95)), "open");
  assert.equal(b.snapshot(at(95)).nextProbeAt?.toISOString(), iso(155));
});

Deno.test("late outcomes of requests sent before the circuit opened", () => {
  // A late failure while open and no probe is out: counted, but the next probe is not delayed.
  const b = openedAt(0);
  assert.equal(b.onFailure(at(20)), "open");
  assert.deepEqual(b.snapshot(at(20)), {
    state: "open",
    consecutiveFailures: 4,
    openedAt: at(0),
    nextProbeAt: at(30),
    cooldownMs: 30_000,
    probeInFlight: false,
  });
  // Cool-down over but no probe taken yet: a late failure still does not reschedule.
  assert.equal(b.onFailure(at(35)), "half_open");
  assert.equal(b.canAttempt(at(35)), true);

  // A late success while open proves the destination answers: closed at once.
  const c = openedAt(0);
  assert.equal(c.onSuccess(at(10)), "closed");
  assert.equal(c.canAttempt(at(10)), true);
});

Deno.test("defaults: 5 failures, 30 s cool-down growing to 5 min", () => {
  const b = new CircuitBreaker();
  for (let i = 0; i < 4; i++) assert.equal(b.onFailure(at(0)), "closed");
  assert.equal(b.onFailure(at(0)), "open");
  assert.equal(b.snapshot(at(0)).nextProbeAt?.toISOString(), iso(30));
  let t = 30;
  const cooldowns: number[] = [];
  for (let i = 0; i < 6; i++) {
    assert.equal(b.canAttempt(at(t)), true);
    b.onFailure(at(t));
    cooldowns.push(b.snapshot(at(t)).cooldownMs / 1000);
    t += cooldowns[i];
  }
  assert.deepEqual(cooldowns, [60, 120, 240, 300, 300, 300]);
});

Deno.test("invalid options are refused at construction", () => {
  const bad = [
    { failureThreshold: 0 },
    { failureThreshold: 1.5 },
    { cooldownMs: 0 },
    { cooldownMultiplier: 0.5 },
    { cooldownMs: 60_000, maxCooldownMs: 30_000 },
    { probeTimeoutMs: 0 },
    { cooldownMs: NaN },
  ];
  for (const o of bad) {
    assert.throws(() => new CircuitBreaker(o), RangeError, JSON.stringify(o));
    assert.throws(() => new CircuitBreakers(o), RangeError, JSON.stringify(o));
  }
});

Deno.test("CircuitBreakers keeps one independent breaker per destination", () => {
  const breakers = new CircuitBreakers(opts);
  const down = breakers.get("https://b.dhis2.example.org");
  assert.equal(breakers.get("https://b.dhis2.example.org"), down, "same instance on reuse");
  for (let i = 0; i < 3; i++) down.onFailure(at(0));
  breakers.get("https://a.dhis2.example.org").onSuccess(at(0));
  assert.equal(breakers.get("https://a.dhis2.example.org").canAttempt(at(1)), true);
  assert.equal(down.canAttempt(at(1)), false);
  const snaps = breakers.snapshots(at(1));
  assert.deepEqual(Object.keys(snaps), [
    "https://a.dhis2.example.org",
    "https://b.dhis2.example.org",
  ]);
  assert.equal(snaps["https://a.dhis2.example.org"].state, "closed");
  assert.equal(snaps["https://b.dhis2.example.org"].state, "open");
});
