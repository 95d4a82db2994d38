/**
 * The queue's housekeeping, run on croner schedules by every worker process: the rescuer
 * (expired leases back to the queue) and the pruner (finished submissions past retention).
 * Both are safe to run on several replicas at once: the rescuer skips rows another replica has
 * locked, and deleting what is already deleted is a no-op.
 */
import { Cron } from "croner";
import type { Sql } from "../db/db.ts";
import type { Logger } from "../logs/logger.ts";
import { pruneRequestLog } from "../logs/requests_queries.ts";
import { FINISHED_STATUSES, notifyWorkers, releaseStranded, rescueExpired } from "./queries.ts";
import type { Wakeup } from "./wakeup.ts";

export interface MaintenanceOptions {
  sql: Sql;
  log: Logger;
  /** Cron expression for the rescuer (api.retry_cron_expression). */
  rescueCron: string;
  /** Cron expression for the pruner (api.sync_cron_expression). */
  pruneCron: string;
  retentionDays: number;
  timezone: string;
  /** Woken after a rescue so this process's worker picks the rows up at once. */
  wakeup?: Wakeup;
}

/** Runs the rescuer once; returns how many leases it took back. */
export async function rescueOnce(
  o: Pick<MaintenanceOptions, "sql" | "log" | "wakeup">,
): Promise<number> {
  let total = 0;
  for (;;) {
    const rescued = await rescueExpired(o.sql);
    total += rescued.length;
    for (const r of rescued) {
      o.log.warn("lease expired; delivery returned to the queue", {
        submissionId: r.submissionId,
        deliveryId: r.id,
        attempt: r.attempt,
        status: r.status,
        lockedBy: r.lockedBy,
      });
    }
    if (rescued.length < 1000) break;
  }
  const released = await releaseStranded(o.sql);
  if (released > 0) {
    o.log.info("released deliveries whose older delivery of the same key is gone", { released });
  }
  if (total > 0 || released > 0) {
    o.wakeup?.wake();
    await notifyWorkers(o.sql);
  }
  return total;
}

/**
 * Deletes finished submissions (and, by cascade, their deliveries and attempts) created more than
 * `retentionDays` ago, in batches so no statement holds many row locks for long.
 */
export async function pruneOnce(
  sql: Sql,
  retentionDays: number,
  batch = 5000,
): Promise<number> {
  if (retentionDays <= 0) return 0;
  let total = 0;
  for (;;) {
    // Deliveries first, then their submissions (by the cascade), the order every queue
    // statement and the status trigger take: locking the submission first deadlocked with a
    // requeue of the same row.
    const rows = await sql`
      with locked as (
        select d.submission_id from deliveries d
        join submissions s on s.id = d.submission_id
        where s.created_at < now() - make_interval(days => ${retentionDays})
          and s.status in ${sql([...FINISHED_STATUSES])}
        order by d.id
        limit ${batch}
        for update of d skip locked
      )
      delete from submissions
      where id in (select submission_id from locked)
        and status in ${sql([...FINISHED_STATUSES])}
      returning id`;
    total += rows.length;
    if (rows.length < batch) break;
  }
  // Batch records past retention (their attempts keep a null batch_id if still kept).
  for (;;) {
    const gone = await sql`
      delete from delivery_batches where id in (
        select id from delivery_batches
        where finished_at < now() - make_interval(days => ${retentionDays})
        limit ${batch}
      )
      returning id`;
    if (gone.length < batch) return total;
  }
}

export interface Maintenance {
  stop(): void;
}

/** A croner job, or a startup error that names the config key. */
function schedule(key: string, pattern: string, timezone: string, fn: () => Promise<void>): Cron {
  try {
    return new Cron(pattern, { timezone, protect: true }, fn);
  } catch (err) {
    throw new Error(
      `${key} "${pattern}" is not a valid cron expression: ${(err as Error).message}`,
    );
  }
}

export function startMaintenance(o: MaintenanceOptions): Maintenance {
  // Both patterns are checked before either job starts, so a bad one leaves nothing running.
  const patterns = {
    "api.retry_cron_expression": o.rescueCron,
    "api.sync_cron_expression": o.pruneCron,
  };
  for (const [key, pattern] of Object.entries(patterns)) {
    schedule(key, pattern, o.timezone, () => Promise.resolve()).stop();
  }
  const rescuer = schedule("api.retry_cron_expression", o.rescueCron, o.timezone, async () => {
    try {
      await rescueOnce(o);
    } catch (err) {
      o.log.error("rescuer failed", { error: err as Error });
    }
  });
  const pruner = schedule("api.sync_cron_expression", o.pruneCron, o.timezone, async () => {
    try {
      const started = performance.now();
      const deleted = await pruneOnce(o.sql, o.retentionDays);
      // The request log (refused requests included) is kept as long as submissions are.
      const requests = await pruneRequestLog(o.sql, o.retentionDays);
      o.log.info("pruned finished submissions", {
        deleted,
        requestLogRows: requests,
        retentionDays: o.retentionDays,
        durationMs: Math.round(performance.now() - started),
      });
    } catch (err) {
      o.log.error("pruner failed", { error: err as Error });
    }
  });
  // A worker that died before this process started left leases behind: take them back now.
  rescueOnce(o).catch((err) => o.log.error("rescuer failed", { error: err as Error }));
  return {
    stop() {
      rescuer.stop();
      pruner.stop();
    },
  };
}
