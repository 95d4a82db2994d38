/**
 * The worker's local queue when it claims ahead (destination_slots.ts says why and how the
 * destination's limit is kept): deliveries leased and not yet started, the slots this worker
 * holds, and the requests it has in flight. Used only for a destination without a rate limit
 * and with batching off: a rate limit spends its tokens at the claim, so leasing ahead would let
 * starts bunch up past the rate, and a batch claim already takes many deliveries per request.
 */
import type { Sql } from "../db/db.ts";
import type { ClaimedDelivery } from "./kind.ts";
import { claimAhead, giveBack, releaseSlots } from "./destination_slots.ts";

export interface AheadOptions {
  sql: Sql;
  workerId: string;
  destination: string;
  /** The destination's max_concurrent across replicas. */
  maxConcurrent: number;
  /** This worker's own cap. */
  maxLocal: number;
  leaseSeconds: number;
  /** The most deliveries leased and not finished sending at once. */
  size: number;
}

/** How many deliveries a worker leases ahead by default: a few claims' worth per slot. */
export function aheadSize(maxLocal: number): number {
  return Math.max(32, 8 * maxLocal);
}

export class Ahead {
  readonly #o: AheadOptions;
  ready: ClaimedDelivery[] = [];
  sending = 0;
  #slots = 0;
  #until = 0;
  /** Claims that leased deliveries, and how many (tests, the bench). */
  readonly stats = { claims: 0, leased: 0 };

  constructor(o: AheadOptions) {
    this.#o = o;
  }

  /**
   * How many to lease now: none while more than half the local queue is ready, so each claim
   * takes about half of it while the rest is sent.
   */
  room(): number {
    if (this.ready.length > this.#o.size / 2) return 0;
    return Math.max(0, this.#o.size - this.ready.length - this.sending);
  }

  /** Fewer slots than this worker could use now: other workers hold the rest. */
  slotLimited(): boolean {
    return this.#slots < Math.min(this.#o.maxLocal, this.ready.length + this.sending);
  }

  /** Slots held and about to lapse: a claim (of nothing, if need be) renews them. */
  needsRenewal(now: number): boolean {
    return this.#slots > 0 && this.#until - now < (this.#o.leaseSeconds * 1000) / 2;
  }

  async claim(want: number): Promise<{ got: number; avail: number }> {
    const r = await claimAhead(this.#o.sql, this.#o.workerId, {
      name: this.#o.destination,
      maxConcurrent: this.#o.maxConcurrent,
      maxLocal: this.#o.maxLocal,
      want,
      sending: this.sending,
      ready: this.ready.length,
      leaseSeconds: this.#o.leaseSeconds,
    });
    if (r.jobs.length) {
      this.stats.claims++;
      this.stats.leased += r.jobs.length;
    }
    this.#slots = r.slots;
    this.#until = r.until.getTime();
    this.ready.push(...r.jobs);
    return { got: r.jobs.length, avail: r.avail };
  }

  /** The next delivery to send, if a slot is free; counts it as sending. */
  next(): ClaimedDelivery | undefined {
    if (this.sending >= Math.min(this.#slots, this.#o.maxLocal) || !this.ready.length) return;
    this.sending++;
    return this.ready.shift();
  }

  /** A request ended (or never started): its slot is free. */
  sent(): void {
    this.sending--;
  }

  /** Gives every ready delivery back to the queue, due at `runAt` (null: as it was). */
  async giveBack(runAt: Date | null): Promise<number> {
    const jobs = this.ready;
    this.ready = [];
    return await giveBack(this.#o.sql, jobs, this.#o.workerId, runAt);
  }

  /** After a stop: nothing in flight any more, so no slot is held. */
  async release(): Promise<void> {
    this.#slots = 0;
    await releaseSlots(this.#o.sql, this.#o.destination, this.#o.workerId);
  }
}
