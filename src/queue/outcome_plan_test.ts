import assert from "node:assert/strict";
import type { OutcomeFacts } from "./kind.ts";
import { credentialBackoff, type PlanContext, planOutcome } from "./outcome_plan.ts";

// The DHIS2 replies behind these outcomes are tested in src/aggregate/outcome_test.ts.
const NOW = new Date("2026-01-01T00:00:00Z");
const ctx = (over: Partial<PlanContext> = {}): PlanContext => ({
  budgetAttempt: 1,
  maxRetries: 3,
  backoff: { baseSeconds: 15, maxSeconds: 3600, jitter: 0.2 },
  credentialBackoff: credentialBackoff({ baseSeconds: 15, maxSeconds: 3600, jitter: 0.2 }),
  now: NOW,
  random: () => 0.5,
  ...over,
});
const facts: OutcomeFacts = {
  httpStatus: 400,
  remoteStatus: null,
  counts: null,
  conflicts: null,
  response: null,
};

Deno.test("give up: dead at once with the kind's reason, whatever budget is left", () => {
  const p = planOutcome({ kind: "give_up", facts, error: "cannot be sent" }, ctx());
  assert.equal(p.outcome, "dead");
  assert.deepEqual(
    [p.update.status, p.update.lastError, p.update.runAt, p.update.httpStatus],
    ["dead", "cannot be sent", null, 400],
  );
});

Deno.test("retry: due on the schedule while budget remains, dead after", () => {
  const retry = { kind: "retry", facts, error: "busy", credentialProblem: false } as const;
  const p = planOutcome(retry, ctx({ budgetAttempt: 2 }));
  assert.deepEqual([p.outcome, p.update.status, p.update.lastError], ["retry", "retrying", "busy"]);
  assert.equal(p.update.runAt!.getTime() - NOW.getTime(), 30_000);
  const dead = planOutcome(retry, ctx({ budgetAttempt: 4 }));
  assert.deepEqual(
    [dead.outcome, dead.update.status, dead.update.lastError, dead.update.runAt],
    ["dead", "dead", "gave up after 4 attempt(s): busy", null],
  );
});
