/**
 * Brute-force protection for password logins (getToken and Basic on any route). Failures are
 * counted per username and per client address in `login_throttle`, so a restart does not reset
 * them. Within one window: each failure from the second on is answered a little later (the
 * "slow down"), and once a counter reaches its limit every attempt is refused with 429 and
 * `Retry-After` until the window that started with the first failure ends, without even
 * checking the password. The lock-out is therefore never longer than the window.
 */
import { createHash } from "node:crypto";
import type { Db } from "../db/db.ts";
import { AppError } from "../http/errors.ts";
import { clearThrottle, pruneThrottle, recordFailures, throttleRows } from "./queries.ts";

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

export class LoginThrottle {
  #lastPrune = 0;

  constructor(
    private sql: Db,
    private limits: ThrottleLimits,
    private sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
    private now: () => number = Date.now,
  ) {}

  #keys(username: string, address: string) {
    return {
      user: key("username", username.normalize("NFKC").toLowerCase()),
      addr: key("address", address),
    };
  }

  /** Throws 429 with Retry-After when either counter is at its limit. */
  async check(username: string, address: string): Promise<void> {
    const { user, addr } = this.#keys(username, address);
    const rows = await throttleRows(this.sql, [user, addr]);
    let retryAfter = 0;
    for (const r of rows) {
      const limit = r.key === user ? this.limits.maxPerUsername : this.limits.maxPerAddress;
      const ends = r.window_start.getTime() + this.limits.windowSeconds * 1000;
      if (r.failures >= limit && ends > this.now()) {
        retryAfter = Math.max(retryAfter, Math.ceil((ends - this.now()) / 1000));
      }
    }
    if (retryAfter > 0) {
      throw new AppError(
        "too_many_requests",
        `too many failed logins; try again in ${retryAfter} seconds`,
        { headers: { "Retry-After": String(retryAfter) } },
      );
    }
  }

  /** Counts a failure for both keys, then waits the slow-down delay before the caller answers. */
  async failed(username: string, address: string): Promise<void> {
    const { user, addr } = this.#keys(username, address);
    const rows = await recordFailures(this.sql, [
      { key: user, kind: "username" },
      { key: addr, kind: "address" },
    ], this.limits.windowSeconds);
    const worst = Math.max(0, ...rows.map((r) => r.failures));
    await this.#maybePrune();
    const delay = slowDownMs(worst);
    if (delay > 0) await this.sleep(delay);
  }

  /**
   * A correct password clears the username's counter. The address counter stays: otherwise one
   * valid account would let its owner keep guessing other users' passwords from that address.
   */
  async succeeded(username: string, address: string): Promise<void> {
    await clearThrottle(this.sql, this.#keys(username, address).user);
  }

  async #maybePrune(): Promise<void> {
    if (this.now() - this.#lastPrune < this.limits.windowSeconds * 1000) return;
    this.#lastPrune = this.now();
    await pruneThrottle(this.sql, this.limits.windowSeconds);
  }
}
