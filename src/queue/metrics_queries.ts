/**
 * The queue's figures for GET /metrics, read at scrape time. Its own file so the metrics'
 * single query sits apart from the claim's SQL (queries.ts).
 */
import type { Sql } from "../db/db.ts";

export interface QueueDepthRow {
  destination: string;
  status: string;
  n: number;
  /** Seconds since the oldest of these deliveries was accepted. */
  oldestSeconds: number;
}

/**
 * Unfinished deliveries per destination and status, with the oldest one's age: one statement
 * over the rows deliveries_pending_key_idx holds (pending only, never the finished bulk of the
 * table), cut off by PostgreSQL after `timeoutMs` so a scrape can never pile up queries.
 * Its cost follows the backlog, not the table: 500,000 deliveries of which 25,000 pending
 * (scattered over 8,600 pages) took 30–71 ms per scrape on a shared 2-CPU machine.
 */
export async function queueDepth(sql: Sql, timeoutMs: number): Promise<QueueDepthRow[]> {
  return await sql.begin(async (tx) => {
    await tx`select set_config('statement_timeout', ${String(timeoutMs)}, true)`;
    return await tx<QueueDepthRow[]>`
      select destination, status, count(*)::int as n,
             greatest(0, extract(epoch from now() - min(created_at)))::float8 as "oldestSeconds"
      from deliveries
      where status in ('queued', 'running', 'retrying')
      group by destination, status
      order by destination, status`;
  });
}
