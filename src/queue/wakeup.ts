/**
 * Wakes an idle worker as soon as work may be due, instead of waiting for the next poll.
 *
 * Two sources, one signal: the submission route of the same process calls `wake()` after its
 * commit (needed on the embedded database, where NOTIFY does not cross connections, and free
 * everywhere else), and with PostgreSQL a LISTEN on `CHANNEL` carries wake-ups from other
 * processes (an API-only replica, a requeue on another node).
 */
import type { Sql } from "../db/db.ts";
import type { Logger } from "../logs/logger.ts";
import { CHANNEL } from "./queries.ts";

export class Wakeup {
  #pending = false;
  #waiters = new Set<() => void>();

  /** Wakes every current waiter; with none, the next `wait` returns at once. */
  wake(): void {
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
  const meta = await sql.listen(CHANNEL, () => wakeup.wake(), () => {
    log.debug("listening for submissions", { channel: CHANNEL });
    wakeup.wake();
  });
  return { close: () => meta.unlisten() };
}
