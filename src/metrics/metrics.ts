/**
 * The process-wide metrics dhis2gw records as things happen (GET /metrics adds the ones read at
 * scrape time: queue depth, circuit breakers, memory; see scrape.ts). One registry per process,
 * as Prometheus expects: each replica is its own scrape target, and counters restart at 0 with
 * the process (rate() and increase() handle that).
 *
 * Label values are bounded: destination names (config), kinds, sources (set by an admin on users
 * and tokens), outcomes, route patterns (never raw paths) and status codes.
 */
import { Registry } from "./registry.ts";

export const registry = new Registry();

/** Seconds. DHIS2 imports take 50 ms to a minute (reference §8.3); 0.05–60 covers that. */
const DHIS2_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Seconds. Intake answers in milliseconds; a mapping import may take several seconds. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Deliveries in one DHIS2 import: 1 without batching, up to thousands with it. */
const BATCH_DELIVERY_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];
/** Data values in one DHIS2 import: batch.max_values is at most 10,000. */
const BATCH_VALUE_BUCKETS = [10, 50, 100, 500, 1000, 2000, 5000, 10000];

export const submissionsAccepted = registry.counter(
  "dhis2gw_submissions_accepted_total",
  "Submissions stored and queued at intake (replays of an Idempotency-Key not counted).",
  ["kind", "source"],
);

export const deliveriesFinished = registry.counter(
  "dhis2gw_deliveries_total",
  "Deliveries that reached a final outcome in this process (delivered, partial, rejected, dead).",
  ["destination", "outcome"],
);

export const deliveryAttempts = registry.counter(
  "dhis2gw_delivery_attempts_total",
  "Delivery attempts (HTTP exchanges with DHIS2) by the outcome recorded for each; fenced: " +
    "the lease had expired and the outcome was discarded.",
  ["destination", "outcome"],
);

export const deliverySnoozes = registry.counter(
  "dhis2gw_delivery_snoozes_total",
  "Deliveries handed back without using an attempt (circuit open, outside a window, unknown kind).",
  ["destination"],
);

export const dhis2RequestDuration = registry.histogram(
  "dhis2gw_dhis2_request_duration_seconds",
  "Time DHIS2 took to answer a delivery's request (network included), by destination.",
  ["destination"],
  DHIS2_BUCKETS,
);

export const batchDeliveries = registry.histogram(
  "dhis2gw_batch_deliveries",
  "Deliveries combined into one DHIS2 import (1 per import while batching is off).",
  ["destination"],
  BATCH_DELIVERY_BUCKETS,
);

export const batchValues = registry.histogram(
  "dhis2gw_batch_values",
  "Data values sent in one DHIS2 import, where the sender counted them.",
  ["destination"],
  BATCH_VALUE_BUCKETS,
);

export const httpRequests = registry.counter(
  "dhis2gw_http_requests_total",
  "HTTP requests answered, by method, route pattern (not the raw path) and status code.",
  ["method", "route", "status"],
);

export const httpRequestDuration = registry.histogram(
  "dhis2gw_http_request_duration_seconds",
  "Time to answer an HTTP request, by method and route pattern.",
  ["method", "route"],
  HTTP_BUCKETS,
);

/** Intake: one submission stored (call after the commit, not for an idempotent replay). */
export function recordSubmissionAccepted(kind: string, source: string): void {
  submissionsAccepted.inc({ kind, source: source || "default" });
}

/**
 * One DHIS2 import sent to `destination`, carrying `deliveries` deliveries and (when the caller
 * knows it) `values` data values. The worker calls it with 1 per delivery; the batching sender
 * calls it once per combined import instead.
 */
export function recordBatch(destination: string, deliveries: number, values?: number): void {
  batchDeliveries.observe({ destination }, deliveries);
  if (values !== undefined) batchValues.observe({ destination }, values);
}
