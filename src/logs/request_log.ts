import type { Db, Sql } from "../db/db.ts";
import type { Logger } from "./logger.ts";

export interface RequestLogEntry {
  at: Date;
  request_id: string;
  user_uid: string | null;
  username: string | null;
  method: string;
  path: string;
  status: number;
  duration_ms: number;
  client_ip: string | null;
}

export async function insertRequestLogs(sql: Db, rows: RequestLogEntry[]): Promise<void> {
  if (rows.length === 0) return;
  await sql`insert into request_log ${sql(rows as unknown as Record<string, unknown>[])}`;
}

/**
 * Buffers audit rows and writes them in one multi-row INSERT per interval, so the submission
 * path never waits on an extra write (the brief measured every extra write on the hot path).
 * Rows still buffered at shutdown are flushed by `close()`.
 */
export class RequestLogBuffer {
  #rows: RequestLogEntry[] = [];
  #timer?: ReturnType<typeof setTimeout>;
  #flushing: Promise<void> = Promise.resolve();

  constructor(
    private sql: Sql,
    private log: Logger,
    private opts: { intervalMs?: number; maxRows?: number } = {},
  ) {}

  add(entry: RequestLogEntry): void {
    this.#rows.push(entry);
    if (this.#rows.length >= (this.opts.maxRows ?? 500)) {
      void this.flush();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => void this.flush(), this.opts.intervalMs ?? 1000);
    }
  }

  flush(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const rows = this.#rows;
    this.#rows = [];
    this.#flushing = this.#flushing.then(async () => {
      // 65535 bind parameters per statement at most: 9 columns leaves room for 7000 rows.
      for (let i = 0; i < rows.length; i += 5000) {
        try {
          await insertRequestLogs(this.sql, rows.slice(i, i + 5000));
        } catch (err) {
          this.log.error("could not write request log", { error: err as Error, rows: rows.length });
        }
      }
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
