/**
 * When to try a failed delivery again. Pure: the worker passes the clock and the random source,
 * so the schedule is testable to the millisecond.
 *
 * Counting convention used across the queue: `attempt` is 1-based and counts every delivery
 * attempt, the first one included. `max_retries` counts only the retries after the first
 * attempt, so a job makes at most `max_retries + 1` attempts; `max_retries = 0` means "try once".
 * That number is stored on each submission at enqueue (`max_attempts`), so the worker and the
 * rescuer use the setting as it was when the submission was accepted.
 */

export interface RetryOptions {
  /** Delay after the first failed attempt, in seconds. */
  baseSeconds: number;
  /** Cap on the un-jittered delay, in seconds. */
  maxSeconds: number;
  /**
   * Spread as a fraction of the delay: 0.2 gives delay·[0.8, 1.2). Without it, every job that
   * failed during one DHIS2 outage would come back in the same second and knock it over again.
   * Default 0.
   */
  jitter?: number;
}

/** Nothing is rescheduled sooner than this, whatever the options or the random draw. */
export const MIN_DELAY_MS = 1000;

function assertOptions({ baseSeconds, maxSeconds, jitter = 0 }: RetryOptions): void {
  if (!Number.isFinite(baseSeconds) || baseSeconds <= 0) {
    throw new RangeError("baseSeconds must be a positive number");
  }
  if (!Number.isFinite(maxSeconds) || maxSeconds < baseSeconds) {
    throw new RangeError("maxSeconds must be a number not below baseSeconds");
  }
  if (!(jitter >= 0 && jitter < 1)) throw new RangeError("jitter must be in [0, 1)");
}

/**
 * The earliest time to run attempt `attempt + 1`, after attempt `attempt` (1-based) failed:
 * base·2^(attempt−1), capped at maxSeconds, then scaled by a factor in [1 − jitter, 1 + jitter)
 * drawn from `random()` (which must return a number in [0, 1), like Math.random). The result lies
 * in [now + max(1 s, base·(1 − jitter)), now + maxSeconds·(1 + jitter)], rounded to the millisecond.
 */
export function nextRunAt(
  attempt: number,
  now: Date,
  random: () => number,
  opts: RetryOptions,
): Date {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError("attempt must be an integer from 1");
  }
  assertOptions(opts);
  const jitter = opts.jitter ?? 0;
  const r = random();
  if (!(r >= 0 && r < 1)) throw new RangeError("random() must return a number in [0, 1)");
  // 2 ** large is Infinity, and min(Infinity, cap) is the cap: no overflow for any attempt.
  const delaySeconds = Math.min(opts.baseSeconds * 2 ** (attempt - 1), opts.maxSeconds);
  const factor = 1 + jitter * (2 * r - 1);
  const delayMs = Math.max(MIN_DELAY_MS, Math.round(delaySeconds * factor * 1000));
  return new Date(now.getTime() + delayMs);
}

/** True when attempt `attempt` (1-based) has failed and no retry is left: attempt > maxRetries. */
export function shouldGiveUp(attempt: number, maxRetries: number): boolean {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError("attempt must be an integer from 1");
  }
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw new RangeError("maxRetries must be an integer from 0");
  }
  return attempt > maxRetries;
}
