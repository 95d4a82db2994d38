/**
 * Manual requeue (logs API, admin console): the deliveries of selected submissions go back to
 * the queue, due now, with a fresh retry budget.
 */
import type postgres from "postgres";
import type { Db } from "../db/db.ts";
import { CHANNEL } from "./queries.ts";

/** Counted in deliveries (one per destination of each submission). */
export interface RequeueCounts {
  /** Deliveries of the submissions that matched the selection. */
  matched: number;
  requeued: number;
  /** Skipped: a worker holds them right now. */
  running: number;
  /** Skipped: already waiting for their first attempt. */
  alreadyQueued: number;
}

/**
 * Puts the deliveries of the submissions `where` selects (a condition on `submissions`) back in
 * the queue, due now, with a fresh retry budget (attempt numbers keep counting, so earlier
 * attempts stay in the log). Running ones are left alone: their worker will record an outcome,
 * and a second delivery would race it.
 */
export async function requeue(
  sql: Db,
  where: postgres.Fragment,
  by: string,
  /** Only the delivery to this destination (requeue ?destination=); absent: every one. */
  destination?: string,
): Promise<RequeueCounts> {
  const [row] = await sql<
    { matched: number; requeued: number; running: number; already_queued: number }[]
  >`
    with target as (
      select d.id, d.status from deliveries d
      where d.submission_id in (select id from submissions where ${where})
        and (${destination ?? null}::text is null or d.destination = ${destination ?? null})
      order by d.id
      for update of d
    ), upd as (
      update deliveries d
      set status = 'queued',
          run_at = now(),
          attempts_at_requeue = d.attempts,
          locked_by = null,
          locked_until = null,
          finished_at = null,
          credential_problem = false,
          requeued_at = now(),
          requeued_by = ${by},
          updated_at = now()
      from target
      where d.id = target.id and target.status not in ('running', 'queued')
      returning d.id
    )
    select (select count(*) from target)::int as matched,
           (select count(*) from upd)::int as requeued,
           (select count(*) from target where status = 'running')::int as running,
           (select count(*) from target where status = 'queued')::int as already_queued,
           pg_notify(${CHANNEL}, '') is not null as notified`;
  return {
    matched: row.matched,
    requeued: row.requeued,
    running: row.running,
    alreadyQueued: row.already_queued,
  };
}
