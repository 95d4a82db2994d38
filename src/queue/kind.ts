/**
 * What the queue asks of a kind of submission (src/aggregate/ today, src/tracker/ later): send
 * one claimed delivery and say what happened, as an explicit outcome value. The queue owns
 * everything else (claim, lease, retry budget and schedule, breaker, attempt log) and imports
 * nothing kind- or DHIS2-specific; the worker picks the kind by `deliveries.kind`.
 */

/** A delivery leased to one worker until `lockedUntil`, with what its kind needs to send it. */
export interface ClaimedDelivery {
  id: number;
  submissionId: number;
  taskId: string;
  kind: string;
  destination: string;
  /** This attempt's number, 1-based, counting every claim since the delivery was enqueued. */
  attempt: number;
  /** `attempts` at the last manual requeue; the retry budget counts from there. */
  attemptsAtRequeue: number;
  /** Attempts allowed since enqueue or the last requeue (fixed on the row at enqueue). */
  maxAttempts: number;
  /** The submission as mapped at intake (what is sent), opaque to the queue. */
  payload: unknown;
  /** Per payload item, the caller's code behind it (names what a destination refused). */
  codes: readonly string[];
  username: string;
  lockedUntil: Date;
  claimedAt: Date;
  /** The batch key set at enqueue (only on deliveries claimed as a batch). */
  batchKey?: string | null;
  /**
   * Newer deliveries of the same destination and ordering key that already finished with
   * something written (delivered, partial), oldest first: an old retry must not overwrite what
   * they wrote. Filled by the worker after the claim; the kind decides what overlaps.
   */
  newer?: readonly FinishedDelivery[];
  /** Set by claims that looked: false means `newer` would be empty (attachNewer skips it). */
  hasNewer?: boolean;
}

/** A finished delivery a claimed one may be older than (see ClaimedDelivery.newer). */
export interface FinishedDelivery {
  id: number;
  submissionId: number;
  taskId: string;
  status: "delivered" | "partial";
  payload: unknown;
  /** Per payload item, the caller's code behind it. */
  codes: readonly string[];
  /** Its refusals as the kind stored them (they were not written). */
  conflicts: unknown[] | null;
}

/**
 * What a destination counted for one exchange, kept on the delivery and its attempt: DHIS2's
 * importCount (dhis2/outcome.ts reads it into this), and what later kinds map onto it.
 */
export interface ImportCounts {
  imported: number;
  updated: number;
  ignored: number;
  deleted: number;
}

/** What the destination said, stored on the delivery and its attempt row. */
export interface OutcomeFacts {
  httpStatus: number | null;
  /** The destination's own status word (DHIS2's OK/WARNING/ERROR). */
  remoteStatus: string | null;
  counts: ImportCounts | null;
  /** Refusals, with the caller's codes behind them. */
  conflicts: unknown[] | null;
  /** The reply body, only when api.save_response is on; otherwise null. */
  response: unknown;
}

/**
 * A kind's verdict on one exchange. `retry` leaves the when (or whether: the budget may be
 * spent) to the queue's retry policy; `give_up` ends the delivery now; `snooze` gives the
 * delivery back without using an attempt.
 */
export type Outcome =
  | { kind: "delivered"; facts: OutcomeFacts; note?: string }
  | { kind: "partial"; facts: OutcomeFacts; error: string; refusedCodes: string[] }
  | { kind: "rejected"; facts: OutcomeFacts; error: string; refusedCodes: string[] }
  | { kind: "retry"; facts: OutcomeFacts; error: string; credentialProblem: boolean }
  | { kind: "give_up"; facts: OutcomeFacts; error: string }
  | { kind: "snooze"; until: Date; reason: string };

export interface DeliverContext {
  now: () => Date;
  /**
   * Call before each request after the first one of a claim (a split's halves, completion
   * registrations): it waits for the destination's rate limit. Absent: no limit to respect.
   */
  beforeRequest?: () => Promise<void>;
}

/** What a kind sets on a new delivery so the queue can batch it (queries.ts NewDelivery). */
export interface NewDeliveryBatching {
  /** Deliveries with the same key may share one request; null: never combined. */
  batchKey: string | null;
  /** What a batch's size limit counts. */
  weight: number;
}

export interface DeliveryKind {
  /** The `deliveries.kind` it handles. */
  readonly name: string;
  /** Sends one delivery and decides the outcome; throws only on a bug (the lease recovers). */
  deliver(delivery: ClaimedDelivery, ctx: DeliverContext): Promise<Outcome>;
  /** Present when the kind can send several deliveries of one batch key as one request. */
  readonly batch?: BatchCapability;
}

/**
 * Sending a claimed batch (same destination, kind and batch key, in claim order) and saying,
 * per delivery, what happened. The kind owns the request shape, attribution of the reply and
 * splitting; the queue records `exchanges` and every delivery's outcome in one go.
 */
export interface BatchCapability {
  deliverBatch(deliveries: readonly ClaimedDelivery[], ctx: DeliverContext): Promise<BatchResult>;
}

/** One HTTP exchange of a batch (a split batch has one per half sent). */
export interface BatchExchange {
  /** A UUID chosen by the kind, so halves can name their parent before anything is stored. */
  id: string;
  parentId: string | null;
  deliveryIds: number[];
  /** What the batch limit counts (aggregate: data values). */
  size: number;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  httpStatus: number | null;
  remoteStatus: string | null;
  counts: ImportCounts | null;
  result: "attributed" | "split" | "failed" | "none";
  error: string | null;
}

export interface BatchResult {
  exchanges: BatchExchange[];
  /** One per delivery given, each with the exchange whose reply decided it (null: none sent). */
  outcomes: Array<{
    deliveryId: number;
    outcome: Exclude<Outcome, { kind: "snooze" }>;
    batchId: string | null;
  }>;
}

/** A place deliveries go, with the kinds that can send there (built by the composition root). */
export interface Destination {
  /** The configured name (`default`, `hmis`, ...): deliveries.destination, the breaker's key. */
  name?: string;
  /** Shown in logs and on the status page (the DHIS2 API URL). */
  address: string;
  kinds: readonly DeliveryKind[];
}
