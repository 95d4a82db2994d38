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

/**
 * The longest a leased delivery may wait in the local queue (ms): a request started later might
 * not end, and be recorded, within its lease, which the old claim gave in full (the lease is at
 * least the DHIS2 timeout + 10 s). A delivery that waited longer is given back instead, and the
 * local queue shrinks (a slow DHIS2 drains it slowly).
 */
export const MAX_WAIT_MS = 5_000;

/** How many deliveries a worker leases ahead by default: a few claims' worth per slot. */
export function aheadSize(maxLocal: number): number {
  return Math.max(32, 8 * maxLocal);
}

export class Ahead {
  readonly #o: AheadOptions;
  ready: Array<ClaimedDelivery & { leasedAt: number }> = [];
  /** Waited too long to be sent: for the worker to give back. */
  stale: ClaimedDelivery[] = [];
  /** The local queue's size now (halved when deliveries go stale, regrown claim by claim). */
  #size: number;
  sending = 0;
  #slots = 0;
  #until = 0;
  /** Claims that leased deliveries, and how many (tests, the bench). */
  readonly stats = { claims: 0, leased: 0 };

  constructor(o: AheadOptions) {
    this.#o = o;
    this.#size = o.size;
  }

  /**
   * How many to lease now: none while more than half the local queue is ready, so each claim
   * takes about half of it while the rest is sent.
   */
  room(): number {
    if (this.ready.length > this.#size / 2) return 0;
    return Math.max(0, this.#size - this.ready.length - this.sending);
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
    const leasedAt = Date.now();
    for (const job of r.jobs) this.ready.push({ ...job, leasedAt });
    if (!this.stale.length) this.#size = Math.min(this.#o.size, this.#size + this.#o.maxLocal);
    return { got: r.jobs.length, avail: r.avail };
  }

  /** The next delivery to send, if a slot is free; counts it as sending. */
  next(now = Date.now()): ClaimedDelivery | undefined {
    while (this.sending < Math.min(this.#slots, this.#o.maxLocal) && this.ready.length) {
      const { leasedAt, ...job } = this.ready.shift()!;
      if (now - leasedAt > Math.min(MAX_WAIT_MS, (this.#o.leaseSeconds * 1000) / 4)) {
        this.stale.push(job);
        this.#size = Math.max(this.#o.maxLocal, Math.floor(this.#size / 2));
        continue;
      }
      this.sending++;
      return job;
    }
  }

  /** A request ended (or never started): its slot is free. */
  sent(): void {
    this.sending--;
  }

  /** Gives every ready delivery back to the queue, due at `runAt` (null: as it was). */
  async giveBack(runAt: Date | null): Promise<number> {
    const jobs: ClaimedDelivery[] = [
      ...this.stale,
      ...this.ready.map(({ leasedAt: _, ...j }) => j),
    ];
    this.ready = [];
    this.stale = [];
    return await giveBack(this.#o.sql, jobs, this.#o.workerId, runAt);
  }

  /** Gives back the deliveries that waited too long to be sent. */
  async giveBackStale(): Promise<number> {
    const jobs = this.stale;
    this.stale = [];
    return await giveBack(this.#o.sql, jobs, this.#o.workerId, null);
  }

  /** After a stop: nothing in flight any more, so no slot is held. */
  async release(): Promise<void> {
    this.#slots = 0;
    await releaseSlots(this.#o.sql, this.#o.destination, this.#o.workerId);
  }
}
