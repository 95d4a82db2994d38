/**
 * What an import costs a real DHIS2: a fixed part per request (authentication, locks, audit,
 * analytics hooks) and a small part per value, with only so many imports running at once
 * (request threads, database connections); the rest wait their turn in arrival order. Off
 * unless asked for (tests want a fast simulator); the delivery benchmark measures against it.
 */

export interface CostModel {
  /** Per import, whatever its size. */
  fixedMs: number;
  /** Per data value (or registration) in it. */
  perValueMs: number;
  /** Imports that run at once; later ones queue. */
  concurrency: number;
}

/** A modest DHIS2 server (issue 13): 150 ms + 0.05 ms per value, 4 imports at once. */
export const DEFAULT_COST: CostModel = { fixedMs: 150, perValueMs: 0.05, concurrency: 4 };

export interface CostStats {
  imports: number;
  values: number;
  /** The most imports waiting for a slot at one time. */
  peakQueued: number;
  /** The simulator's own time over every import (parsing, checking, storing, answering). */
  workMs: number;
  /** Imports whose own work took longer than the model charges: the simulator, not the model, set their pace. */
  overruns: number;
  /**
   * Time slots were held past what the model (or the work) asked for, summed over imports: the
   * simulator's thread busy with another request's work when a sleep ended, plus the timers'
   * own granularity (about 1 ms each). Not DHIS2's cost.
   */
  lateMs: number;
}

export class ImportCost {
  readonly model: CostModel;
  readonly stats: CostStats = {
    imports: 0,
    values: 0,
    peakQueued: 0,
    workMs: 0,
    overruns: 0,
    lateMs: 0,
  };
  #running = 0;
  #queue: Array<() => void> = [];

  constructor(model: Partial<CostModel> = {}) {
    this.model = { ...DEFAULT_COST, ...model };
    if (!(this.model.concurrency >= 1)) throw new Error("cost concurrency must be at least 1");
  }

  /** The least time `imports` imports of `values` values each can take, all slots busy. */
  static ceilingMs(model: CostModel, imports: number, valuesEach: number): number {
    const waves = Math.ceil(imports / model.concurrency);
    return waves * (model.fixedMs + model.perValueMs * valuesEach);
  }

  /**
   * Waits for a slot, runs `work`, and holds the slot until the import's cost has passed since
   * the slot was taken. The simulator's own time (parsing and checking 10,000 values) is part
   * of what the model charges, not added to it: sleeping the whole cost after the work made a
   * batched import of 5,000 values cost 400 ms plus the simulator's 100-300 ms. `spentMs`: work
   * done on this request before it reached the model (parsing its body), charged the same way.
   */
  async run<T>(
    values: number,
    sleep: (ms: number) => Promise<void>,
    work: () => T,
    clock: () => number = () => performance.now(),
    spentMs = 0,
  ): Promise<T> {
    if (this.#running >= this.model.concurrency) {
      await new Promise<void>((resolve) => {
        this.#queue.push(resolve);
        this.stats.peakQueued = Math.max(this.stats.peakQueued, this.#queue.length);
      });
    } else this.#running++;
    try {
      const t0 = clock();
      const result = work();
      const spent = spentMs + clock() - t0;
      const modelled = this.model.fixedMs + this.model.perValueMs * values;
      this.stats.workMs += spent;
      if (spent > modelled) this.stats.overruns++;
      // No timer when nothing is left to wait: even setTimeout(0) costs a turn of the event
      // loop's timers (1-3 ms measured), which an instant DHIS2 must not add to each request.
      if (modelled > spent) await sleep(modelled - spent);
      this.stats.lateMs += Math.max(0, spentMs + clock() - t0 - Math.max(modelled, spent));
      this.stats.imports++;
      this.stats.values += values;
      return result;
    } finally {
      // Hand the slot straight to the next in line (FIFO), or free it.
      const next = this.#queue.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
