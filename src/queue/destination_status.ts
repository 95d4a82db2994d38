/** What the status page shows per destination from the queue: its waiting deliveries. */
import type { Db } from "../db/db.ts";

export interface DestinationDepth {
  queued: number;
  running: number;
  retrying: number;
  /** Held behind an older delivery of their ordering key (FIFO). */
  held: number;
  /** When the oldest waiting delivery was enqueued. */
  oldestCreatedAt: Date | null;
}

/**
 * Waiting deliveries per destination (finished ones are not counted: that would read the whole
 * table). Served by deliveries_pending_key_idx's partial condition.
 */
export async function depthByDestination(sql: Db): Promise<Map<string, DestinationDepth>> {
  const rows = await sql<
    {
      destination: string;
      queued: number;
      running: number;
      retrying: number;
      held: number;
      oldest: Date | null;
    }[]
  >`
    select destination,
           count(*) filter (where status = 'queued')::int as queued,
           count(*) filter (where status = 'running')::int as running,
           count(*) filter (where status = 'retrying')::int as retrying,
           count(*) filter (where held)::int as held,
           min(created_at) as oldest
    from deliveries
    where status in ('queued', 'running', 'retrying')
    group by destination`;
  return new Map(rows.map((r) => [r.destination, {
    queued: r.queued,
    running: r.running,
    retrying: r.retrying,
    held: r.held,
    oldestCreatedAt: r.oldest,
  }]));
}
