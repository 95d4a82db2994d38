/**
 * Brute-force protection for password logins (getToken and Basic on any route). Failures are
 * counted per username and per client address in `login_throttle`, so a restart does not reset
 * them. Within one window: each failure from the second on is answered a little later (the
 * "slow down"), and once a counter reaches its limit every attempt is refused with 429 and
 * `Retry-After` until the window that started with the first failure ends, without even
 * checking the password. The lock-out is therefore never longer than the window.
 *
 * The limits hold for parallel attempts too, on one replica or many: an attempt is reserved on
 * both counters before its password is checked, in one locked step that refuses it when the
 * failures plus the attempts still in flight would pass either limit. So with a limit of 5, 20
 * parallel guesses get 5 password checks and 15 answers of 429. Attempts refused only because
 * others are in flight get `Retry-After: 1`: those may yet succeed.
 */
import { createHash } from "node:crypto";
import type { Db, Sql } from "../db/db.ts";
import { AppError } from "../http/errors.ts";
import {
  clearThrottle,
  forgiveAttempt,
  pruneThrottle,
  recordFailures,
  releaseAttempt,
  reserveAttempt,
  type ThrottleKey,
} from "./queries.ts";

export interface ThrottleLimits {
  /** Failures per username before 429. */
  maxPerUsername: number;
  /** Failures per address before 429; higher, since a whole office may share one address. */
  maxPerAddress: number;
  windowSeconds: number;
}

const key = (kind: "username" | "address", value: string) =>
  createHash("sha256").update(`${kind}:${value}`, "utf8").digest("hex");

/** Lifts a username's lock-out, e.g. after an operator reset that user's password. */
export async function clearUsernameThrottle(sql: Db, username: string): Promise<void> {
  await clearThrottle(sql, key("username", username.normalize("NFKC").toLowerCase()));
}

/** 250 ms after the second failure, doubling, at most 4 s: small for a typo, costly for a bot. */
export function slowDownMs(failures: number): number {
  if (failures < 2) return 0;
  return Math.min(250 * 2 ** (failures - 2), 4000);
}

/**
 * How long a reservation may stay undecided before it is treated as abandoned (its process
 * died between the reservation and the outcome). A password check takes ~74 ms; 60 s leaves
 * room for a long queue of them on a busy replica.
 */
const STALE_RESERVATION_SECONDS = 60;

/**
 * One reserved login attempt. Once the password is checked, `failed` or `succeeded` settles it;
 * `abandon` (for a `finally`) releases it if neither ran, e.g. when the check threw.
 */
export interface LoginAttempt {
  /** A wrong password: counts a failure on both counters, then waits the slow-down delay. */
  failed(): Promise<void>;
  /**
   * A correct password clears the username's counter. The address counter keeps its failures:
   * otherwise one valid account would let its owner keep guessing other users' passwords from
   * that address. Attempts still in flight keep their reservations on both.
   */
  succeeded(): Promise<void>;
  /** Releases the reservation without counting anything; a no-op once settled. */
  abandon(): Promise<void>;
}

export class LoginThrottle {
  #lastPrune = 0;

  constructor(
    private sql: Sql,
    private limits: ThrottleLimits,
    private sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
    private now: () => number = Date.now,
  ) {}

  #keys(username: string, address: string): [ThrottleKey, ThrottleKey] {
    return [
      { key: key("username", username.normalize("NFKC").toLowerCase()), kind: "username" },
      { key: key("address", address), kind: "address" },
    ];
  }

  /**
   * Reserves an attempt on both counters before the password is checked, or throws 429 with
   * Retry-After (and reserves nothing) when either counter's failures plus attempts in flight
   * would pass its limit.
   */
  async begin(username: string, address: string): Promise<LoginAttempt> {
    const keys = this.#keys(username, address);
    const [user, addr] = keys;
    await this.sql.begin(async (tx) => {
      const rows = await reserveAttempt(
        tx,
        keys,
        this.limits.windowSeconds,
        STALE_RESERVATION_SECONDS,
      );
      let retryAfter = 0;
      let locked = false;
      // Attempts in flight count too, so parallel guesses cannot outrun the limit. The price:
      // more than maxPerAddress password checks at once from one address (many clients behind
      // one NAT, all with cold credential caches after a restart) get 429 with Retry-After: 1;
      // raise auth.login_max_failures_address for such sites.
      for (const r of rows) {
        const limit = r.key === user.key ? this.limits.maxPerUsername : this.limits.maxPerAddress;
        if (r.failures + r.pending <= limit) continue;
        if (r.failures >= limit) {
          locked = true;
          retryAfter = Math.max(retryAfter, r.window_left, 1);
        } else retryAfter = Math.max(retryAfter, 1);
      }
      // Thrown inside the transaction, so the reservation is rolled back with it.
      if (retryAfter > 0) {
        throw new AppError(
          "too_many_requests",
          locked
            ? `too many failed logins; try again in ${retryAfter} seconds`
            : `too many logins in progress; try again in ${retryAfter} seconds`,
          { headers: { "Retry-After": String(retryAfter) } },
        );
      }
    });
    let settled = false;
    return {
      failed: async () => {
        settled = true;
        const rows = await recordFailures(this.sql, keys, this.limits.windowSeconds);
        const worst = Math.max(0, ...rows.map((r) => r.failures));
        await this.#maybePrune();
        const delay = slowDownMs(worst);
        if (delay > 0) await this.sleep(delay);
      },
      succeeded: async () => {
        settled = true;
        await forgiveAttempt(this.sql, user.key);
        await releaseAttempt(this.sql, addr.key);
      },
      abandon: async () => {
        if (settled) return;
        settled = true;
        await releaseAttempt(this.sql, user.key);
        await releaseAttempt(this.sql, addr.key);
      },
    };
  }

  /**
   * One password check under the limits: reserves the attempt (or throws 429), runs `check`,
   * and settles the attempt by its answer: null is a wrong password (a failure, then the
   * slow-down), anything else a right one. A check that throws only releases its reservation.
   */
  async guard<T>(
    username: string,
    address: string,
    check: () => Promise<T | null>,
  ): Promise<T | null> {
    const attempt = await this.begin(username, address);
    try {
      const found = await check();
      if (found === null) await attempt.failed();
      else await attempt.succeeded();
      return found;
    } finally {
      await attempt.abandon().catch(() => {});
    }
  }

  async #maybePrune(): Promise<void> {
    if (this.now() - this.#lastPrune < this.limits.windowSeconds * 1000) return;
    this.#lastPrune = this.now();
    await pruneThrottle(this.sql, this.limits.windowSeconds);
  }
}
