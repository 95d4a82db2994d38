import { type Db, isDatabaseUnavailable, type Sql } from "../db/db.ts";
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
  /** Set when status >= 400 (refusal.ts). */
  error_code?: string | null;
  error_message?: string | null;
  error_fields?: string[] | null;
  /** The API token's public prefix when one was sent, verified or not. */
  token_prefix?: string | null;
  /** False when `username`/`token_prefix` are only what a refused request claimed. */
  identity_verified?: boolean | null;
}

/**
 * One statement text whatever the rows: each column is one array parameter (unnest), every
 * parameter sent as text so postgres.js infers the same types for any batch. A multi-row
 * VALUES list (`sql(rows, ...columns)`) was a new statement per row count and per pattern of
 * nulls, i.e. nearly one per flush: postgres.js keeps up to 2,000 prepared statements per pool
 * (and each connection up to 1,000 on the server), about 20 kB each at 50 rows, so `serve`
 * grew 0.6 MB a minute under a steady 50 requests/s for the first half hour (issue 18's soak).
 */
export async function insertRequestLogs(sql: Db, rows: RequestLogEntry[]): Promise<void> {
  if (rows.length === 0) return;
  const col = <T>(f: (r: RequestLogEntry) => T) => rows.map(f);
  const text = (v: unknown) => v === null || v === undefined ? null : String(v);
  await sql`
    insert into request_log (
      at, request_id, user_uid, username, method, path, status, duration_ms, client_ip,
      error_code, error_message, error_fields, token_prefix, identity_verified
    )
    select at::timestamptz, request_id, user_uid, username, method, path, status::int,
           duration_ms::int, client_ip, error_code, error_message,
           case when error_fields is null then null
                else array(select jsonb_array_elements_text(error_fields::jsonb)) end,
           token_prefix, identity_verified::boolean
    from unnest(
      ${col((r) => r.at.toISOString())}::text[], ${col((r) => r.request_id)}::text[],
      ${col((r) => r.user_uid)}::text[], ${col((r) => r.username)}::text[],
      ${col((r) => r.method)}::text[], ${col((r) => r.path)}::text[],
      ${col((r) => String(r.status))}::text[], ${col((r) => String(r.duration_ms))}::text[],
      ${col((r) => r.client_ip)}::text[], ${col((r) => r.error_code ?? null)}::text[],
      ${col((r) => r.error_message ?? null)}::text[],
      ${col((r) => r.error_fields ? JSON.stringify(r.error_fields) : null)}::text[],
      ${col((r) => r.token_prefix ?? null)}::text[],
      ${col((r) => text(r.identity_verified))}::text[]
    ) with ordinality as r(at, request_id, user_uid, username, method, path, status, duration_ms,
                          client_ip, error_code, error_message, error_fields, token_prefix,
                          identity_verified, ord)
    order by ord`;
}

/** Rows per INSERT: bounds one statement's size (the arrays are one parameter each). */
const BATCH = 4000;

export interface RequestLogBufferOptions {
  /** How long a row waits for the next INSERT (and, while the database is away, the retry). */
  intervalMs?: number;
  /** Rows that start an INSERT before the interval is over. */
  maxRows?: number;
  /**
   * Rows kept in memory while the database is unavailable; past it new rows are dropped,
   * counted and reported. 10,000 rows (about 3 MB) hold 2.5 minutes at 60 requests/s.
   * Rows handed to an INSERT that has not finished count too.
   */
  maxBuffered?: number;
  /** The same bound in (estimated) bytes: paths and messages of any length cannot pass it. */
  maxBufferedBytes?: number;
}

/** A row's footprint, roughly: its strings at 2 bytes a character plus the object around them. */
function rowBytes(r: RequestLogEntry): number {
  let chars = 0;
  for (const v of Object.values(r)) {
    if (typeof v === "string") chars += v.length;
    else if (Array.isArray(v)) { for (const f of v) chars += String(f).length + 16; }
  }
  return 256 + 2 * chars;
}

/**
 * Buffers audit rows and writes them in one multi-row INSERT per interval, so the submission
 * path never waits on an extra write (the brief measured every extra write on the hot path).
 * While the database is unavailable the rows stay buffered, up to `maxBuffered`, and are
 * written once it is back; rows that could not be kept are counted and logged. Rows still
 * buffered at shutdown are flushed by `close()`.
 */
export class RequestLogBuffer {
  #rows: RequestLogEntry[] = [];
  #timer?: ReturnType<typeof setTimeout>;
  #flushing: Promise<void> = Promise.resolve();
  /** The last INSERT failed because the database is away: retry on the timer only. */
  #unavailable = false;
  /** Rows dropped since the last report: how many, and the span of their times. */
  #dropped?: { rows: number; first: Date; last: Date };
  #droppedTotal = 0;
  /** Rows and bytes held: buffered, plus handed to an INSERT that has not settled yet. */
  #held = { rows: 0, bytes: 0 };

  constructor(
    private sql: Sql,
    private log: Logger,
    private opts: RequestLogBufferOptions = {},
  ) {}

  /** Rows waiting in memory, and rows dropped for want of room since the start. */
  get stats(): { buffered: number; dropped: number } {
    return { buffered: this.#held.rows, dropped: this.#droppedTotal };
  }

  add(entry: RequestLogEntry): void {
    const bytes = rowBytes(entry);
    const maxBytes = this.opts.maxBufferedBytes ?? 8 * 1024 * 1024;
    if (this.#held.rows >= this.#maxBuffered || this.#held.bytes + bytes > maxBytes) {
      this.#drop([entry]);
    } else {
      this.#rows.push(entry);
      this.#held.rows++;
      this.#held.bytes += bytes;
    }
    if (!this.#unavailable && this.#rows.length >= (this.opts.maxRows ?? 500)) {
      void this.flush();
    } else this.#schedule();
  }

  flush(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const rows = this.#rows;
    this.#rows = [];
    this.#flushing = this.#flushing.then(() => this.#write(rows));
    return this.#flushing;
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#rows.length > 0) {
      this.#release(this.#rows);
      this.#drop(this.#rows);
      this.#rows = [];
    }
    this.#reportDropped("request log rows lost at shutdown: the database is unavailable");
  }

  get #maxBuffered(): number {
    return this.opts.maxBuffered ?? 10_000;
  }

  #schedule(): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.opts.intervalMs ?? 1000);
  }

  /** Rows no longer held in memory (written, given up on or dropped). */
  #release(rows: RequestLogEntry[]): void {
    this.#held.rows -= rows.length;
    for (const r of rows) this.#held.bytes -= rowBytes(r);
  }

  async #write(rows: RequestLogEntry[]): Promise<void> {
    for (let i = 0; i < rows.length; i += BATCH) {
      const part = rows.slice(i, i + BATCH);
      try {
        await insertRequestLogs(this.sql, part);
        this.#release(part);
      } catch (err) {
        if (isDatabaseUnavailable(err)) {
          this.#keep(rows.slice(i), err as Error);
          return;
        }
        this.#release(part);
        // Not the database's absence but these rows: trying them again would fail again.
        this.log.error("could not write request log", {
          error: err as Error,
          rows: Math.min(BATCH, rows.length - i),
        });
        continue;
      }
      if (this.#unavailable) {
        this.#unavailable = false;
        this.log.info("request log written again after the database came back");
      }
    }
    if (!this.#unavailable) {
      this.#reportDropped("request log rows dropped while the database was unavailable");
    }
  }

  /** Puts rows that could not be written back in front of the newer ones, within the cap. */
  #keep(rows: RequestLogEntry[], err: Error): void {
    if (!this.#unavailable) {
      this.#unavailable = true;
      this.log.warn("database unavailable: request log kept in memory until it is back", {
        error: err,
        buffered: rows.length + this.#rows.length,
        maxBuffered: this.#maxBuffered,
      });
    }
    const all = rows.concat(this.#rows);
    // The oldest rows stay: they tell when the outage began.
    this.#rows = all.slice(0, this.#maxBuffered);
    if (all.length > this.#maxBuffered) {
      this.#release(all.slice(this.#maxBuffered));
      this.#drop(all.slice(this.#maxBuffered));
    }
    this.#schedule();
  }

  #drop(rows: RequestLogEntry[]): void {
    if (rows.length === 0) return;
    if (!this.#dropped) {
      this.log.warn("request log buffer full: dropping new rows until the database is back", {
        maxBuffered: this.#maxBuffered,
      });
      this.#dropped = { rows: 0, first: rows[0].at, last: rows[0].at };
    }
    this.#dropped.rows += rows.length;
    this.#dropped.last = rows[rows.length - 1].at;
    this.#droppedTotal += rows.length;
  }

  #reportDropped(msg: string): void {
    if (!this.#dropped) return;
    const d = this.#dropped;
    this.#dropped = undefined;
    this.log.warn(msg, {
      dropped: d.rows,
      firstAt: d.first.toISOString(),
      lastAt: d.last.toISOString(),
    });
  }
}
