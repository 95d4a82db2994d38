/**
 * Adds the tracker kind to the configured DHIS2 destination (aggregate/destination.ts builds it),
 * with its own client for /api/tracker and the tracker.* settings.
 */
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import { liveApiAuth } from "../aggregate/destination.ts";
import type { Destination } from "../queue/kind.ts";
import { createTrackerClient, type TrackerClient } from "./client.ts";
import { trackerKind } from "./kind.ts";

/** The tracker delivery client of the configured DHIS2 (api.* and tracker.*). */
export function trackerClientOf(config: Readonly<Config>): TrackerClient {
  return createTrackerClient({
    baseUrl: config.api.dhis2_base_url,
    auth: liveApiAuth(config),
    timeoutMs: config.api.dhis2_timeout * 1000,
    import: {
      importStrategy: config.tracker.import_strategy,
      atomicMode: config.tracker.atomic_mode,
    },
  });
}

export function withTracker(
  destination: Destination | null,
  config: Readonly<Config>,
  sql: Sql,
): Destination | null {
  if (!destination) return null;
  const client = trackerClientOf(config);
  const kind = trackerKind({
    sql,
    client,
    saveResponse: config.api.save_response,
    asyncThreshold: config.tracker.async_threshold,
    jobPollMs: config.tracker.job_poll_interval * 1000,
    jobTimeoutMs: config.tracker.job_timeout * 1000,
  });
  return { ...destination, kinds: [...destination.kinds, kind] };
}
