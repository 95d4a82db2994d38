/**
 * Group commit of a worker's outcome writes (issue 18): lone deliveries that finish while an
 * earlier write is on its way to PostgreSQL are recorded together by the next one statement
 * (batch_queries.ts recordAttempts: each delivery's update and attempt row, each fenced by its own
 * lease), instead of one statement and one transaction each. A delivery counts as recorded only
 * when the statement carrying it has committed: `record` resolves then, with false when its
 * lease was lost meanwhile (fenced out), exactly as the one-row write did.
 *
 * There is no timer: an idle worker writes at once (no latency added). Up to MAX_WRITING writes
 * (MAX_WRITING_AHEAD for a worker that claims ahead) are in flight at once, each starting as
 * soon as something is pending; only when all of them are busy do finished outcomes wait, and
 * then the next write takes every one that waited. (Before claims ahead, one write at a time
 * made each slot wait for the write before its own: measured slower, 173/s against 223/s for
 * one statement each, at 8 deliveries in flight.)
 */
import { type Db, isDatabaseUnavailable } from "../db/db.ts";
import { recordAttempts } from "./batch_queries.ts";
import type { AttemptRecord, DeliveryUpdate } from "./queries.ts";

interface Pending {
  job: { id: number; attempt: number };
  update: DeliveryUpdate;
  attempt: AttemptRecord;
  resolve: (recorded: boolean) => void;
  reject: (err: unknown) => void;
}

/** The most outcomes one statement carries (its JSON stays well under a megabyte). */
export const MAX_GROUP = 500;
/**
 * Writes in flight at once (each holds a pool connection for one round trip), for a worker whose
 * deliveries wait for their own write before their slot takes the next one (plain claims).
 */
export const MAX_WRITING = 4;
/**
 * The same for a worker that claims ahead (worker_ahead.ts): a slot starts its next request while
 * the outcome is written, so a write's wait costs no throughput, and fewer, larger statements
 * cost PostgreSQL less. Measured (bench_delivery_instant.ts, 5,000 deliveries, 8 in flight, 3
 * rounds each against the other in one run): 1 write at a time 1,478-1,624/s at 0.35-0.40 ms of
 * PostgreSQL CPU per delivery, 2 at a time 1,204-1,253/s at 0.53-0.66 ms; 1 against 4,
 * 1,014-1,427/s against 934-1,276/s.
 */
export const MAX_WRITING_AHEAD = 1;

export class OutcomeWriter {
  readonly #sql: Db;
  readonly #workerId: string;
  #pending: Pending[] = [];
  #writing = 0;
  #scheduled = false;
  readonly #maxWriting: number;
  /** Statements written and outcomes they carried, for tests and the bench. */
  readonly stats = { statements: 0, outcomes: 0 };

  constructor(sql: Db, workerId: string, maxWriting = MAX_WRITING) {
    this.#sql = sql;
    this.#workerId = workerId;
    this.#maxWriting = maxWriting;
  }

  /** Records one attempt; true once committed, false when fenced out. Rejects on a DB error. */
  record(
    job: { id: number; attempt: number },
    update: DeliveryUpdate,
    attempt: AttemptRecord,
  ): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.push({ job, update, attempt, resolve, reject });
      if (!this.#scheduled && this.#writing < this.#maxWriting) {
        this.#scheduled = true;
        // After this turn's other finished deliveries have queued theirs.
        queueMicrotask(() => {
          this.#scheduled = false;
          this.#start();
        });
      }
    });
  }

  #start(): void {
    while (this.#pending.length && this.#writing < this.#maxWriting) {
      this.#writing++;
      this.#write(this.#pending.splice(0, MAX_GROUP)).finally(() => {
        this.#writing--;
        this.#start();
      });
    }
  }

  async #write(group: Pending[]): Promise<void> {
    try {
      const recorded = await this.#statement(group);
      for (const p of group) p.resolve(recorded.has(p.job.id));
    } catch (err) {
      if (group.length === 1 || isDatabaseUnavailable(err)) {
        for (const p of group) p.reject(err);
        return;
      }
      // PostgreSQL refused the statement for something in it: one row must not keep the others
      // unrecorded until their leases expire (and sent twice). Each on its own, then.
      await Promise.all(group.map((p) => this.#write([p])));
    }
  }

  async #statement(group: Pending[]): Promise<Set<number>> {
    this.stats.statements++;
    this.stats.outcomes += group.length;
    return await recordAttempts(
      this.#sql,
      this.#workerId,
      group.map(({ job, update, attempt }) => ({ job, update, attempt, batchId: null })),
    );
  }
}
