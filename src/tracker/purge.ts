/**
 * The tracker payload purge: every `intervalMs` (and at start) the payloads of tracker
 * submissions delivered more than tracker.payload_retention_days ago are replaced by a marker
 * (queries.ts's purgeTrackerPayloads says what stays). Several replicas may run it at once: the
 * UPDATE is idempotent.
 */
import type { Sql } from "../db/db.ts";
import type { Logger } from "../logs/logger.ts";
import { purgeTrackerPayloads } from "./queries.ts";

export function startTrackerPurge(o: {
  sql: Sql;
  log: Logger;
  retentionDays: number;
  intervalMs?: number;
}): { stop(): void; runOnce(): Promise<number> } {
  const runOnce = async () => {
    const before = new Date(Date.now() - o.retentionDays * 86_400_000);
    let total = 0;
    for (;;) {
      const n = await purgeTrackerPayloads(o.sql, before);
      total += n;
      if (n < 1000) break;
    }
    if (total) o.log.info("tracker payloads purged", { submissions: total, before });
    return total;
  };
  const tick = () =>
    runOnce().catch((err) => o.log.warn("tracker payload purge failed", { error: err as Error }));
  tick();
  const timer = setInterval(tick, o.intervalMs ?? 10 * 60_000);
  return { stop: () => clearInterval(timer), runOnce };
}
