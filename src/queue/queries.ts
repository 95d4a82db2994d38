/**
 * The delivery queue's SQL. A submission (what the caller sent) has one delivery per destination;
 * the delivery is the job: status queued/retrying with `run_at <= now()` is due, `running` holds
 * a lease (`locked_until`, `locked_by`), and each HTTP exchange appends a `delivery_attempts`
 * row. `submissions.status` summarises its deliveries, kept by migration 0008's triggers in the
 * same transaction as the delivery change. Nothing here knows a kind or DHIS2: payloads are
 * opaque JSON, the ordering key comes from the kind. Every function takes the connection first
 * so a caller can run it inside its own transaction.
 */
import type { Db } from "../db/db.ts";
import type { ClaimedDelivery, ImportCounts } from "./kind.ts";

/** LISTEN/NOTIFY channel that wakes idle workers when work becomes due. */
export const CHANNEL = "dhis2gw_submissions";

/** A delivery's status; a submission's summarises its deliveries' (0008 has the rule). */
export const STATUSES = [
  "queued",
  "running",
  "retrying",
  "delivered",
  "partial",
  "rejected",
  "dead",
] as const;
export type SubmissionStatus = (typeof STATUSES)[number];

/** Where a delivery, and so its submission, ends; the others wait (queued, retrying) or run. */
export const FINISHED_STATUSES = [
  "delivered",
  "partial",
  "rejected",
  "dead",
] as const satisfies readonly SubmissionStatus[];
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];
/** Not finished: waiting for a worker (queued, retrying) or being delivered (running). */
export const WAITING_STATUSES: readonly SubmissionStatus[] = STATUSES.filter(
  (s) => !(FINISHED_STATUSES as readonly SubmissionStatus[]).includes(s),
);

/** A delivery to create with its submission. */
export interface NewDelivery {
  /** A configured destination's name (config `destinations:`); `default` unless routed. */
  destination: string;
  kind: string;
  /** FIFO per key and destination (the kind computes it, e.g. aggregateOrderingKey). */
  orderingKey: string;
  /**
   * Attempts allowed, the first included (server.max_retries + 1). Fixed on the row, as River
   * and graphile-worker do: lowering the setting later does not kill work already accepted.
   */
  maxAttempts: number;
  /**
   * What this destination is sent, when its mappings differ from the submission's payload
   * (a copy to another instance); absent: the submission's payload and codes.
   */
  payload?: unknown;
  codes?: string[];
  /** Deliveries with the same key may share one request (null or absent: never combined). */
  batchKey?: string | null;
  /** What a batch's size limit counts (aggregate: data values); default 1. */
  weight?: number;
}

export interface NewSubmission {
  userUid: string;
  username: string;
  sourceName: string;
  idempotencyKey: string | null;
  requestHash: string;
  orgUnit: string;
  orgUnitName: string | null;
  period: string;
  dataSet: string;
  kind: string;
  /** The request as received, as JSON text (numbers exactly as written). */
  requestJson: string;
  /** What is sent, as the kind mapped it. */
  payload: unknown;
  codes: string[];
  unmappedCodes: string[];
  /** At least one. */
  deliveries: NewDelivery[];
}

export interface EnqueueResult {
  /** False when the caller's idempotency key already named a stored submission. */
  inserted: boolean;
  id: number;
  taskId: string;
  status: SubmissionStatus;
  requestHash: string;
  payload: unknown;
  unmappedCodes: string[];
}

/**
 * Stores a submission and its deliveries, which enqueues them, in one statement (on its own it commits atomically,
 * with no BEGIN/COMMIT round trips). It does not NOTIFY: the caller wakes the workers after the
 * commit, coalesced (WorkNotifier in wakeup.ts says why). With an idempotency key the caller has
 * used before, nothing is inserted and the stored submission is returned (`inserted: false`).
 */
export async function enqueue(sql: Db, s: NewSubmission): Promise<EnqueueResult> {
  // JSON goes in as text cast to jsonb: a parameter the server types as jsonb would be
  // JSON.stringify'd again by postgres.js, and the request text must reach the server verbatim.
  if (!s.deliveries.length) throw new Error("a submission needs at least one delivery");
  const rows = await enqueueStatement(sql, s);
  if (rows.length) return toEnqueueResult(rows[0], true);
  const existing = await sql<EnqueueRow[]>`
    select id, task_id, status, request_hash, payload, unmapped_codes from submissions
    where user_uid = ${s.userUid} and idempotency_key = ${s.idempotencyKey}`;
  if (!existing.length) {
    // The conflicting row was deleted between the two statements; the caller may retry.
    throw new Error("idempotency key conflict with a submission that no longer exists");
  }
  return toEnqueueResult(existing[0], false);
}

/** enqueue's INSERT of the submission and its deliveries (no row: the Idempotency-Key's). */
export function enqueueStatement(sql: Db, s: NewSubmission) {
  const d = s.deliveries;
  return sql<EnqueueRow[]>`
    with sub as (
      insert into submissions (
        user_uid, username, source_name, idempotency_key, request_hash, org_unit, org_unit_name,
        period, data_set, kind, request, payload, codes, unmapped_codes
      ) values (
        ${s.userUid}, ${s.username}, ${s.sourceName}, ${s.idempotencyKey}, ${s.requestHash},
        ${s.orgUnit}, ${s.orgUnitName}, ${s.period}, ${s.dataSet}, ${s.kind},
        ${s.requestJson}::text::jsonb, ${JSON.stringify(s.payload)}::text::jsonb,
        ${s.codes}::text[], ${s.unmappedCodes}::text[]
      )
      on conflict (user_uid, idempotency_key) where idempotency_key is not null do nothing
      returning id, task_id, status, request_hash, payload, unmapped_codes
    ), del as (
      insert into deliveries (
        submission_id, destination, kind, ordering_key, max_attempts, payload, codes, batch_key,
        weight, held
      )
      select sub.id, x.destination, x.kind, x.ordering_key, x.max_attempts,
             x.payload::jsonb, case when x.payload is null then null else xc.codes end,
             x.batch_key, x.weight,
             -- Behind an older pending delivery of its key: out of the claim's index until that
             -- one finishes (migration 0009).
             ${olderPendingOfKey(sql, "x")}
      from sub, unnest(${d.map((x) => x.destination)}::text[], ${d.map((x) => x.kind)}::text[],
                       ${d.map((x) => x.orderingKey)}::text[],
                       ${d.map((x) => x.maxAttempts)}::int[],
                       ${
    d.map((x) => x.payload === undefined ? null : JSON.stringify(x.payload))
  }::text[],
                       ${d.map((x) => JSON.stringify(x.codes ?? []))}::text[],
                       ${d.map((x) => x.batchKey ?? null)}::text[],
                       ${d.map((x) => Math.max(1, x.weight ?? 1))}::int[]) with ordinality
                as x(destination, kind, ordering_key, max_attempts, payload, codes_json, batch_key,
                     weight, ordinality),
           lateral (select array(select jsonb_array_elements_text(x.codes_json::jsonb)) as codes) xc
      -- In the order given, so delivery ids (FIFO per key) follow it.
      order by x.ordinality
    )
    select * from sub`;
}

interface EnqueueRow {
  id: number;
  task_id: string;
  status: SubmissionStatus;
  request_hash: string;
  payload: unknown;
  unmapped_codes: string[];
}

function toEnqueueResult(r: EnqueueRow, inserted: boolean): EnqueueResult {
  return {
    inserted,
    id: r.id,
    taskId: r.task_id,
    status: r.status,
    requestHash: r.request_hash,
    payload: r.payload,
    unmappedCodes: r.unmapped_codes,
  };
}

export type { ClaimedDelivery };

/**
 * Whether a delivery being enqueued (aliased `alias`: destination, ordering_key) has an older
 * pending one of its key, so that it goes in held. A scalar probe of deliveries_pending_key_idx
 * that stops at the first row, never EXISTS: the group insert's EXISTS became a hashed SubPlan
 * on statistics taken before a burst of intake (an estimated 3 rows), which read every pending
 * delivery of the key into a hash once per statement: 18,628 rows and 8 of 15 ms for 21
 * submissions after the intake bench's peak, so that ingest latency at half of the peak grew
 * with the queue (p50 8 ms on a fresh queue, 22-34 ms behind 16,000 pending of one key).
 */
export function olderPendingOfKey(sql: Db, alias: string) {
  const x = sql(alias);
  return sql`coalesce((
    select true from deliveries older
    where older.destination = ${x}.destination and older.ordering_key = ${x}.ordering_key
      and older.status in ('queued', 'running', 'retrying')
    limit 1
  ), false)`;
}

/**
 * FIFO per ordering key, for the delivery aliased `alias`: nothing older of its destination and
 * key is pending (queued, running or retrying). A scalar subquery, never NOT EXISTS: a SubPlan
 * always probes deliveries_pending_key_idx by (destination, ordering_key, id), while NOT EXISTS
 * became an anti join whose plan followed the statistics. On a table filled since its last
 * ANALYZE (a burst of intake) that plan read every pending row per candidate: 4.5 s for one
 * batch claim of 500 out of 3,000; 213 ms (320,000 rows) for one claim ahead of 64 out of 5,000
 * (scripts/bench_delivery_instant.ts). Written as a boolean (coalesce), not `(…) is null`: the
 * planner guesses 0.5 % of rows pass an IS NULL it has no statistics for, and so preferred
 * sorting every due row to reading the due index in order. tests/batch_plans_test.ts holds every
 * claim to a few rows per claimed delivery.
 */
export function noOlderPending(sql: Db, alias: string) {
  const d = sql(alias);
  return sql`coalesce((
    select false from deliveries older
    where older.destination = ${d}.destination and older.ordering_key = ${d}.ordering_key
      and older.status in ('queued', 'running', 'retrying') and older.id < ${d}.id
    limit 1
  ), true)`;
}

/**
 * The claims' lease of the rows a `due` CTE chose and locked: running, one more attempt, this
 * worker's until the lease ends. Shared by claimStatement, destinationClaimStatement and
 * claimAheadStatement; a copy's delivery brings its own payload and codes (claimedColumns).
 */
export function leaseDue(sql: Db, workerId: string, leaseSeconds: number) {
  return sql`
    update deliveries d
    set status = 'running',
        attempts = d.attempts + 1,
        locked_by = ${workerId},
        locked_until = now() + make_interval(secs => ${leaseSeconds}),
        updated_at = now()
    from due
    where d.id = due.id
    returning d.id, d.submission_id, d.kind, d.destination, d.attempts, d.attempts_at_requeue,
              d.max_attempts, d.locked_until, d.updated_at, d.run_at, d.payload as own_payload,
              d.codes as own_codes`;
}

/**
 * The claim's one statement, unexecuted until awaited: exported so the plan test EXPLAINs the
 * real SQL (nested in sql`explain ${...}`), not a copy of it.
 */
export function claimStatement(sql: Db, workerId: string, n: number, leaseSeconds: number) {
  return sql<ClaimRow[]>`
    with due as (
      select d.id from deliveries d
      where d.status in ('queued', 'retrying') and not d.held and d.run_at <= now()
        and ${noOlderPending(sql, "d")}
      order by d.run_at, d.id
      limit ${n}
      for update of d skip locked
    ), claimed as (${leaseDue(sql, workerId, leaseSeconds)})
    ${claimedColumns(sql)}`;
}

/**
 * The claim's result: a copy's delivery carries its own payload (its destination's mappings);
 * otherwise the submission's is sent (migration 0013).
 */
export function claimedColumns(sql: Db) {
  return sql`
    select c.id, c.submission_id, c.kind, c.destination, c.attempts, c.attempts_at_requeue,
           c.max_attempts, c.locked_until, c.updated_at, c.run_at, s.task_id,
           coalesce(c.own_payload, s.payload) as payload, coalesce(c.own_codes, s.codes) as codes,
           s.username, ${hasNewer(sql, "c")} as has_newer
    from claimed c join submissions s on s.id = c.submission_id`;
}

/**
 * Whether attachNewer has anything to look for, for the claimed delivery `alias`: a newer
 * delivery of its key that wrote something, or is running and may have by then (issue 18: skips
 * attachNewer's round trip for almost every claim). Two probes, each matching one partial index
 * exactly (one probe over the three statuses fits neither and walked the primary key over every
 * newer row). The running probe has its own index (migration 0021): the running deliveries
 * of the key, not all running ones of the destination nor every newer queued one of the key.
 */
export function hasNewer(sql: Db, alias: string) {
  return sql`exists (
    select from deliveries k
    where k.id = ${sql(alias)}.id and (
      exists (
        select from deliveries n
        where n.destination = k.destination and n.ordering_key = k.ordering_key
          and n.id > k.id and n.status in ('delivered', 'partial'))
      or exists (
        select from deliveries n
        where n.destination = k.destination and n.ordering_key = k.ordering_key
          and n.id > k.id and n.status = 'running'))
  )`;
}

/**
 * Claims up to `n` due deliveries for `workerId` in ONE statement: the CTE picks due rows in
 * run_at order and skips rows another worker has locked, the UPDATE sets the lease. Matches
 * `deliveries_due_idx` (run_at, id) where status in (queued, retrying) exactly. The submission's
 * payload comes along by primary key; its status follows by 0008's trigger.
 *
 * FIFO per ordering key: a delivery is not due while an older one (smaller id) to the same
 * destination with the same `ordering_key` is still pending (queued, running or retrying), even
 * if that one is not due yet or another worker holds it. A finished older one no longer counts.
 * The NOT EXISTS probes `deliveries_pending_key_idx` (destination, ordering_key, id), once per
 * candidate row.
 */
export async function claim(
  sql: Db,
  workerId: string,
  n: number,
  leaseSeconds: number,
): Promise<ClaimedDelivery[]> {
  if (n <= 0) return [];
  return inClaimOrder(await claimStatement(sql, workerId, n, leaseSeconds));
}

/** Claimed rows in (run_at, id) order, as the kinds see them (destination_claim.ts too). */
export function inClaimOrder(rows: readonly ClaimRow[]): ClaimedDelivery[] {
  return [...rows].sort((a, b) => a.run_at.getTime() - b.run_at.getTime() || a.id - b.id)
    .map(toClaimed);
}

/** A claimed row as the kinds see it (batch_queries.ts claims with the same columns). */
export function toClaimed(r: ClaimRow): ClaimedDelivery {
  return {
    id: r.id,
    submissionId: r.submission_id,
    taskId: r.task_id,
    kind: r.kind,
    destination: r.destination,
    attempt: r.attempts,
    attemptsAtRequeue: r.attempts_at_requeue,
    maxAttempts: r.max_attempts,
    payload: r.payload,
    codes: r.codes,
    username: r.username,
    lockedUntil: r.locked_until,
    claimedAt: r.updated_at,
    ...(r.batch_key !== undefined ? { batchKey: r.batch_key } : {}),
    // null: the claim did not look (a big batch); attachNewer will.
    ...(typeof r.has_newer === "boolean" ? { hasNewer: r.has_newer } : {}),
  };
}

export interface ClaimRow {
  id: number;
  /** Only from claimBatch. */
  batch_key?: string | null;
  /** Only from claims that select claimedColumns. */
  has_newer?: boolean | null;
  submission_id: number;
  task_id: string;
  kind: string;
  destination: string;
  attempts: number;
  attempts_at_requeue: number;
  max_attempts: number;
  payload: unknown;
  codes: string[];
  username: string;
  locked_until: Date;
  updated_at: Date;
  run_at: Date;
}

/** What one attempt changes on its delivery. */
export interface DeliveryUpdate {
  status: "retrying" | "delivered" | "partial" | "rejected" | "dead";
  /** Next due time, for `retrying`. */
  runAt: Date | null;
  lastError: string | null;
  credentialProblem: boolean;
  httpStatus: number | null;
  dhis2Status: string | null;
  counts: ImportCounts | null;
  conflicts: unknown[] | null;
  /** The reply body, when api.save_response is on. */
  response: unknown;
}

/** One row of delivery_attempts. */
export interface AttemptRecord {
  outcome: "delivered" | "partial" | "rejected" | "retry" | "dead";
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
}

/**
 * Records an attempt's outcome: the attempt row and the delivery update in one statement,
 * fenced by (locked_by, attempts): a worker whose lease expired and whose row was rescued (and
 * maybe claimed again, even by itself) changes nothing. Returns false when fenced out.
 */
export async function recordAttempt(
  sql: Db,
  job: { id: number; attempt: number },
  workerId: string,
  update: DeliveryUpdate,
  attempt: AttemptRecord,
): Promise<boolean> {
  const finished = update.status !== "retrying";
  const c = update.counts;
  const conflicts = update.conflicts === null ? null : JSON.stringify(update.conflicts);
  const response = update.response === null || update.response === undefined
    ? null
    : JSON.stringify(update.response);
  const rows = await sql`
    with upd as (
      update deliveries
      set status = ${update.status},
          run_at = coalesce(${update.runAt}::timestamptz, run_at),
          locked_by = null,
          locked_until = null,
          last_error = ${update.lastError},
          credential_problem = ${update.credentialProblem},
          http_status = ${update.httpStatus},
          dhis2_status = ${update.dhis2Status},
          imported = ${c?.imported ?? null},
          updated = ${c?.updated ?? null},
          ignored = ${c?.ignored ?? null},
          deleted = ${c?.deleted ?? null},
          conflicts = ${conflicts}::text::jsonb,
          response = ${response}::text::jsonb,
          updated_at = now(),
          finished_at = case when ${finished} then now() else null end
      where id = ${job.id} and status = 'running' and locked_by = ${workerId}
        and attempts = ${job.attempt}
      returning id, destination, ordering_key
    ), released as (
      -- A finished delivery lets the next one of its key into the claim's index.
      update deliveries n set held = false, updated_at = now()
      where ${finished} and n.id = (
        select min(x.id) from deliveries x, upd
        where x.destination = upd.destination and x.ordering_key = upd.ordering_key
          and x.held and x.status in ('queued', 'retrying')
      )
    )
    insert into delivery_attempts (
      delivery_id, number, worker, started_at, finished_at, duration_ms, outcome, http_status,
      dhis2_status, imported, updated, ignored, deleted, conflicts, error, credential_problem
    )
    select id, ${job.attempt}, ${workerId}, ${attempt.startedAt}, ${attempt.finishedAt},
           ${attempt.durationMs}, ${attempt.outcome}, ${update.httpStatus}, ${update.dhis2Status},
           ${c?.imported ?? null}, ${c?.updated ?? null}, ${c?.ignored ?? null},
           ${c?.deleted ?? null}, ${conflicts}::text::jsonb, ${update.lastError},
           ${update.credentialProblem}
    from upd
    returning delivery_id`;
  return rows.length === 1;
}

/**
 * Gives a claimed delivery back without using an attempt (the circuit breaker is open, or the
 * kind asked): the claim's attempt increment is undone and the row is due again at `runAt`.
 */
export async function snooze(
  sql: Db,
  job: { id: number; attempt: number },
  workerId: string,
  runAt: Date,
): Promise<boolean> {
  const rows = await sql`
    update deliveries
    set status = case when attempts - 1 > attempts_at_requeue then 'retrying' else 'queued' end,
        attempts = attempts - 1,
        run_at = ${runAt},
        locked_by = null,
        locked_until = null,
        updated_at = now()
    where id = ${job.id} and status = 'running' and locked_by = ${workerId}
      and attempts = ${job.attempt}
    returning id`;
  return rows.length === 1;
}

export interface RescuedJob {
  /** The delivery. */
  id: number;
  submissionId: number;
  attempt: number;
  status: "retrying" | "dead";
  lockedBy: string;
}

/**
 * Returns deliveries whose lease expired (their worker died or stalled) to the queue, due at
 * once, and records the lost attempt as `lease_expired`. The lost attempt counts like a failed
 * one: a delivery whose budget it was the last of (attempts since the last requeue reached the
 * row's max_attempts; say it crashes every worker that takes it) goes to `dead` instead.
 */
export async function rescueExpired(sql: Db, limit = 1000): Promise<RescuedJob[]> {
  const rows = await sql<
    { id: number; submission_id: number; attempts: number; status: string; locked_by: string }[]
  >`
    with expired as (
      select id, locked_by as old_worker, updated_at as claimed_at from deliveries
      where status = 'running' and locked_until < now()
      order by locked_until
      limit ${limit}
      for update skip locked
    ), upd as (
      update deliveries d
      set status = case when d.attempts - d.attempts_at_requeue >= d.max_attempts
                        then 'dead' else 'retrying' end,
          finished_at = case when d.attempts - d.attempts_at_requeue >= d.max_attempts
                             then now() end,
          run_at = now(),
          last_error = 'lease expired: worker ' || coalesce(expired.old_worker, '?') ||
                       ' did not report this attempt in time (it stopped or stalled)',
          locked_by = null,
          locked_until = null,
          updated_at = now()
      from expired
      where d.id = expired.id
      returning d.id, d.submission_id, d.attempts, d.status, d.last_error, expired.old_worker,
                expired.claimed_at
    ), att as (
      insert into delivery_attempts (
        delivery_id, number, worker, started_at, finished_at, duration_ms, outcome, error
      )
      select id, attempts, coalesce(old_worker, '?'), claimed_at, now(),
             (extract(epoch from now() - claimed_at) * 1000)::integer, 'lease_expired',
             last_error
      from upd
      on conflict do nothing
    )
    select id, submission_id, attempts, status, old_worker as locked_by from upd`;
  return rows.map((r) => ({
    id: r.id,
    submissionId: r.submission_id,
    attempt: r.attempts,
    status: r.status as "retrying" | "dead",
    lockedBy: r.locked_by,
  }));
}

/**
 * Releases held deliveries that nothing older of their key holds back any more: their
 * predecessor was deleted, purged or given up by the rescuer, or finished while the held one's
 * own insert was still in flight. Runs with the rescuer. Returns how many it released.
 */
export async function releaseStranded(sql: Db): Promise<number> {
  const rows = await sql`
    update deliveries d set held = false, updated_at = now()
    where d.held and d.status in ('queued', 'retrying')
      and not exists (
        select from deliveries older
        where older.destination = d.destination and older.ordering_key = d.ordering_key
          and older.status in ('queued', 'running', 'retrying')
          and older.id < d.id
      )
    returning d.id`;
  return rows.length;
}

/** Wakes every listening worker (outside a transaction: at once; inside: on commit). */
export async function notifyWorkers(sql: Db, sender = ""): Promise<void> {
  await sql`select pg_notify(${CHANNEL}, ${sender})`;
}
