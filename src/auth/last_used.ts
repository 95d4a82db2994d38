/**
 * Remembers when each API token was last used and writes all of them in one UPDATE per
 * interval. A per-request write would add a round trip and a row lock to every submission;
 * "last used" only needs to be right to within the interval.
 */
import type { Sql } from "../db/db.ts";
import type { Logger } from "../logs/logger.ts";
import { touchApiTokens } from "./token_queries.ts";

export class LastUsedBuffer {
  #pending = new Map<number, Date>();
  #timer?: ReturnType<typeof setInterval>;
  #flushing: Promise<void> = Promise.resolve();

  constructor(private sql: Sql, private log: Logger, intervalMs = 30_000) {
    this.#timer = setInterval(() => void this.flush(), intervalMs);
    // A pending flush must not keep a CLI command or a test process alive.
    Deno.unrefTimer(this.#timer);
  }

  touch(tokenId: number, at = new Date()): void {
    this.#pending.set(tokenId, at);
  }

  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (this.#pending.size === 0) return;
      const uses = [...this.#pending].map(([id, at]) => ({ id, at }));
      this.#pending.clear();
      try {
        await touchApiTokens(this.sql, uses);
      } catch (err) {
        // Losing a last-used time is harmless; keep serving.
        this.log.warn("could not record API token use", { error: err as Error });
      }
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
