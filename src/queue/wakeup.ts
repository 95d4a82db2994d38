/**
 * Wakes an idle worker as soon as work may be due, instead of waiting for the next poll.
 *
 * Two sources, one signal: the submission route of the same process calls `wake()` after its
 * commit (no round trip through the database), and a LISTEN on `CHANNEL` carries wake-ups from other
 * processes (an API-only replica's WorkNotifier, a requeue on another node).
 */
import type { Sql } from "../db/db.ts";
import type { Logger } from "../logs/logger.ts";
import { CHANNEL, notifyWorkers } from "./queries.ts";

export class Wakeup {
  /**
   * Names this process's wake-ups in the NOTIFY it sends others (WorkNotifier): its own
   * LISTEN ignores them, the worker was woken in-process already (an echo cost an empty claim).
   */
  readonly id: string = crypto.randomUUID();
  #pending = false;
  #waiters = new Set<() => void>();

  #children: Wakeup[] = [];

  /**
   * A Wakeup woken with this one, with its own pending flag: several workers (one per
   * destination) sharing one would lose a wake that the first of them consumed.
   */
  child(): Wakeup {
    const c = new Wakeup();
    this.#children.push(c);
    return c;
  }

  /** Wakes every current waiter; with none, the next `wait` returns at once. */
  wake(): void {
    for (const c of this.#children) c.wake();
    this.#pending = true;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const resolve of waiters) resolve();
  }

  /**
   * Resolves on the next wake (or at once if one came since the last wait returned), after
   * `ms`, or when `signal` aborts. Returns why.
   */
  wait(ms: number, signal?: AbortSignal): Promise<"wake" | "timeout" | "abort"> {
    if (signal?.aborted) return Promise.resolve("abort");
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve("wake");
    }
    return new Promise((resolve) => {
      const done = (why: "wake" | "timeout" | "abort") => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#waiters.delete(onWake);
        if (why === "wake") this.#pending = false;
        resolve(why);
      };
      const onWake = () => done("wake");
      const onAbort = () => done("abort");
      const timer = setTimeout(() => done("timeout"), Math.max(0, ms));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(onWake);
    });
  }
}

/**
 * LISTENs on the submissions channel (one dedicated connection of the pool) and turns every
 * notification into `wakeup.wake()`. postgres.js re-listens after a reconnect; `onlisten` then
 * wakes the worker too, since notifications sent while disconnected are lost.
 */
export async function listenForWork(
  sql: Sql,
  wakeup: Wakeup,
  log: Logger,
): Promise<{ close(): Promise<void> }> {
  const meta = await sql.listen(CHANNEL, (from) => {
    if (from !== wakeup.id) wakeup.wake();
  }, () => {
    log.debug("listening for submissions", { channel: CHANNEL });
    wakeup.wake();
  });
  return { close: () => meta.unlisten() };
}

/**
 * Sends the wake-up NOTIFY for submissions stored by this process, at most one per
 * `minIntervalMs`. Not inside the submission's INSERT: PostgreSQL serializes the commits of
 * every transaction that notified (a global lock on the notification queue), which capped the
 * submission insert at 5,900/s under pgbench against 12,300/s without the NOTIFY (32 clients,
 * 2 CPUs). One NOTIFY per interval wakes every listening worker just the same; when idle, the
 * first one goes out at once. A NOTIFY lost to a crash between commit and send costs only the
 * delay until the workers' next poll: the row is the job, and it is already committed.
 */
export class WorkNotifier {
  #timer?: ReturnType<typeof setTimeout>;
  #lastSent = -Infinity;
  /** A NOTIFY is on its way to the server. */
  #inFlight?: Promise<void>;
  /** Asked for while one was in flight: send once more when it is done. */
  #again = false;

  /** `sender`: the Wakeup.id of this process's worker, if it has one (its echo is ignored). */
  constructor(
    private sql: Sql,
    private log: Logger,
    private minIntervalMs = 10,
    private sender = "",
  ) {}

  /** Asks for a NOTIFY now, or at the end of the current interval if one was just sent. */
  notify(): void {
    if (this.#inFlight) {
      // At most one in flight: a slow server must not collect a queue of them.
      this.#again = true;
      return;
    }
    if (this.#timer !== undefined) return;
    const wait = Math.max(0, this.#lastSent + this.minIntervalMs - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#send();
    }, wait);
  }

  #send(): void {
    this.#lastSent = performance.now();
    this.#inFlight = notifyWorkers(this.sql, this.sender).catch((err) => {
      // The workers' poll covers a lost wake-up.
      this.log.warn("could not notify workers", { error: err as Error });
    }).finally(() => {
      this.#inFlight = undefined;
      if (this.#again) {
        this.#again = false;
        this.notify();
      }
    });
  }

  /** Sends a pending NOTIFY at once and waits for the last one. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      if (!this.#inFlight) this.#send();
    }
    this.#again = false;
    await this.#inFlight;
  }
}
