/**
 * A per-destination circuit breaker: after a run of transport failures, stop sending to a DHIS2
 * instance that is down, instead of burning every queued job's retries against it, and let one
 * probe through now and then to find out when it is back.
 *
 * A pure state machine: every method takes `now`, nothing reads a clock or a timer, so tests
 * step through time exactly. State lives in memory, per process; each replica learns about an
 * outage on its own, which costs at most `failureThreshold` extra failures per replica.
 *
 * The caller decides what counts: only transport failures (connection refused, timeout, TLS)
 * and 5xx go to `onFailure`. A 4xx/409 with import conflicts means DHIS2 is up and answering, so
 * it is an `onSuccess` as far as the breaker is concerned.
 */

export type CircuitState = "closed" | "open" | "half_open";

export interface CircuitBreakerOptions {
  /** Consecutive failures that open a closed circuit. Default 5. */
  failureThreshold?: number;
  /** Wait after opening before the first probe, in ms. Default 30 s. */
  cooldownMs?: number;
  /** Each failed probe multiplies the wait by this. Default 2 (30 s, 1 min, 2 min, ...). */
  cooldownMultiplier?: number;
  /** Ceiling for the growing wait, in ms. Default 5 min: an outage is noticed ending within 5 min. */
  maxCooldownMs?: number;
  /**
   * A probe whose outcome is never reported (worker crashed, lease lost) stops blocking after
   * this long and another probe is allowed. Should exceed the DHIS2 request timeout. Default 2 min.
   */
  probeTimeoutMs?: number;
}

/** What a status page shows. `openedAt` is when the circuit last left `closed`. */
export interface CircuitSnapshot {
  state: CircuitState;
  consecutiveFailures: number;
  openedAt: Date | null;
  nextProbeAt: Date | null;
  cooldownMs: number;
  probeInFlight: boolean;
}

const DEFAULTS: Required<CircuitBreakerOptions> = {
  failureThreshold: 5,
  cooldownMs: 30_000,
  cooldownMultiplier: 2,
  maxCooldownMs: 300_000,
  probeTimeoutMs: 120_000,
};

function resolveOptions(opts: CircuitBreakerOptions): Required<CircuitBreakerOptions> {
  const o = { ...DEFAULTS, ...opts };
  if (!Number.isInteger(o.failureThreshold) || o.failureThreshold < 1) {
    throw new RangeError("failureThreshold must be an integer from 1");
  }
  if (!Number.isFinite(o.cooldownMs) || o.cooldownMs <= 0) {
    throw new RangeError("cooldownMs must be a positive number");
  }
  if (!Number.isFinite(o.cooldownMultiplier) || o.cooldownMultiplier < 1) {
    throw new RangeError("cooldownMultiplier must be at least 1");
  }
  if (!Number.isFinite(o.maxCooldownMs) || o.maxCooldownMs < o.cooldownMs) {
    throw new RangeError("maxCooldownMs must be a number not below cooldownMs");
  }
  if (!Number.isFinite(o.probeTimeoutMs) || o.probeTimeoutMs <= 0) {
    throw new RangeError("probeTimeoutMs must be a positive number");
  }
  return o;
}

export class CircuitBreaker {
  readonly #o: Required<CircuitBreakerOptions>;
  #open = false;
  #failures = 0;
  #openedAt: number | null = null;
  #nextProbeAt: number | null = null;
  #cooldownMs: number;
  #probeStartedAt: number | null = null;

  constructor(opts: CircuitBreakerOptions = {}) {
    this.#o = resolveOptions(opts);
    this.#cooldownMs = this.#o.cooldownMs;
  }

  /** `open` until the cool-down has passed, then `half_open` until a probe reports back. */
  state(now: Date): CircuitState {
    if (!this.#open) return "closed";
    return now.getTime() < (this.#nextProbeAt ?? 0) ? "open" : "half_open";
  }

  /**
   * May an attempt be made now? In `half_open` a true answer reserves the single probe, so call
   * this only right before actually sending, and report the outcome with onSuccess/onFailure.
   */
  canAttempt(now: Date): boolean {
    const state = this.state(now);
    if (state === "closed") return true;
    if (state === "open") return false;
    const t = now.getTime();
    if (this.#probeStartedAt !== null && t - this.#probeStartedAt < this.#o.probeTimeoutMs) {
      return false;
    }
    this.#probeStartedAt = t;
    return true;
  }

  /**
   * Any success closes the circuit, including a late one from a request sent before it opened:
   * it proves the destination answers. Returns the new state.
   */
  onSuccess(_now: Date): CircuitState {
    this.#open = false;
    this.#failures = 0;
    this.#openedAt = null;
    this.#nextProbeAt = null;
    this.#cooldownMs = this.#o.cooldownMs;
    this.#probeStartedAt = null;
    return "closed";
  }

  /**
   * Counts a transport failure. Opens a closed circuit at the threshold; a failed probe reopens
   * it with a longer cool-down. A late failure while open and no probe is out (a request sent
   * before the circuit opened) is counted but does not push the next probe back. Returns the
   * new state.
   */
  onFailure(now: Date): CircuitState {
    const t = now.getTime();
    this.#failures++;
    if (!this.#open) {
      if (this.#failures >= this.#o.failureThreshold) {
        this.#open = true;
        this.#openedAt = t;
        this.#cooldownMs = this.#o.cooldownMs;
        this.#nextProbeAt = t + this.#cooldownMs;
      }
    } else if (this.#probeStartedAt !== null) {
      this.#probeStartedAt = null;
      this.#cooldownMs = Math.min(
        this.#cooldownMs * this.#o.cooldownMultiplier,
        this.#o.maxCooldownMs,
      );
      this.#nextProbeAt = t + this.#cooldownMs;
    }
    return this.state(now);
  }

  snapshot(now: Date): CircuitSnapshot {
    const state = this.state(now);
    return {
      state,
      consecutiveFailures: this.#failures,
      openedAt: this.#openedAt === null ? null : new Date(this.#openedAt),
      nextProbeAt: this.#nextProbeAt === null ? null : new Date(this.#nextProbeAt),
      cooldownMs: this.#cooldownMs,
      probeInFlight: this.#probeStartedAt !== null &&
        now.getTime() - this.#probeStartedAt < this.#o.probeTimeoutMs,
    };
  }
}

/** One breaker per destination (e.g. the DHIS2 base URL), created on first use. */
export class CircuitBreakers {
  readonly #opts: CircuitBreakerOptions;
  readonly #byDestination = new Map<string, CircuitBreaker>();

  constructor(opts: CircuitBreakerOptions = {}) {
    resolveOptions(opts); // fail at startup, not on the first delivery
    this.#opts = opts;
  }

  /** `opts` (a destination's own settings) apply when its breaker is first made. */
  get(destination: string, opts?: CircuitBreakerOptions): CircuitBreaker {
    let breaker = this.#byDestination.get(destination);
    if (!breaker) {
      breaker = new CircuitBreaker({ ...this.#opts, ...opts });
      this.#byDestination.set(destination, breaker);
    }
    return breaker;
  }

  /** Every known destination's snapshot, sorted by destination for a stable status page. */
  snapshots(now: Date): Record<string, CircuitSnapshot> {
    const entries = [...this.#byDestination].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
    return Object.fromEntries(entries.map(([key, breaker]) => [key, breaker.snapshot(now)]));
  }
}
