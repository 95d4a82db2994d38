/**
 * The delivery queue's SQL. The queue is the `submissions` table itself: a row in status
 * queued/retrying with `run_at <= now()` is due; `running` rows hold a lease (`locked_until`,
 * `locked_by`). Every function takes the connection first so a caller can run it inside its
 * own transaction.
 */
import type { Db } from "../db/db.ts";
import type { DataValueSetPayload } from "../dhis2/client.ts";

/** LISTEN/NOTIFY channel that wakes idle workers when work becomes due. */
export const CHANNEL = "dhis2gw_submissions";

export type SubmissionStatus =
  | "queued"
  | "running"
  | "retrying"
  | "delivered"
  | "partial"
  | "rejected"
  | "dead";

export const STATUSES: readonly SubmissionStatus[] = [
  "queued",
  "running",
  "retrying",
  "delivered",
  "partial",
  "rejected",
  "dead",
];
export const FINISHED_STATUSES: readonly SubmissionStatus[] = [
  "delivered",
  "partial",
  "rejected",
  "dead",
];

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
  /** The request as received, as JSON text (numbers exactly as written). */
  requestJson: string;
  payload: DataValueSetPayload;
  codes: string[];
  unmappedCodes: string[];
  /**
   * Attempts allowed, the first included (server.max_retries + 1). Fixed on the row, as River
   * and graphile-worker do: lowering the setting later does not kill work already accepted.
   */
  maxAttempts: number;
}

export interface EnqueueResult {
  /** False when the caller's idempotency key already named a stored submission. */
  inserted: boolean;
  id: number;
  taskId: string;
  status: SubmissionStatus;
  requestHash: string;
  payload: DataValueSetPayload;
  unmappedCodes: string[];
}

/**
 * Stores a submission, which enqueues it, in one statement (on its own it commits atomically,
 * with no BEGIN/COMMIT round trips). It does not NOTIFY: the caller wakes the workers after the
 * commit, coalesced (WorkNotifier in wakeup.ts says why). With an idempotency key the caller has
 * used before, nothing is inserted and the stored submission is returned (`inserted: false`).
 */
export async function enqueue(sql: Db, s: NewSubmission): Promise<EnqueueResult> {
  // JSON goes in as text cast to jsonb: a parameter the server types as jsonb would be
  // JSON.stringify'd again by postgres.js, and the request text must reach the server verbatim.
  const rows = await sql<EnqueueRow[]>`
    insert into submissions (
      user_uid, username, source_name, idempotency_key, request_hash, org_unit, org_unit_name,
      period, data_set, request, payload, codes, unmapped_codes, max_attempts
    ) values (
      ${s.userUid}, ${s.username}, ${s.sourceName}, ${s.idempotencyKey}, ${s.requestHash},
      ${s.orgUnit}, ${s.orgUnitName}, ${s.period}, ${s.dataSet}, ${s.requestJson}::text::jsonb,
      ${JSON.stringify(s.payload)}::text::jsonb, ${s.codes}::text[], ${s.unmappedCodes}::text[],
      ${s.maxAttempts}
    )
    on conflict (user_uid, idempotency_key) where idempotency_key is not null do nothing
    returning id, task_id, status, request_hash, payload, unmapped_codes`;
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

interface EnqueueRow {
  id: number;
  task_id: string;
  status: SubmissionStatus;
  request_hash: string;
  payload: DataValueSetPayload;
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

/** A claimed submission: leased to one worker until `lockedUntil`. */
export interface ClaimedJob {
  id: number;
  taskId: string;
  /** This attempt's number, 1-based, counting every claim since the submission was stored. */
  attempt: number;
  /** `attempts` at the last manual requeue; the retry budget counts from there. */
  attemptsAtRequeue: number;
  /** Attempts allowed since enqueue or the last requeue (fixed on the row at enqueue). */
  maxAttempts: number;
  payload: DataValueSetPayload;
  codes: string[];
  username: string;
  lockedUntil: Date;
  claimedAt: Date;
}

/**
 * The claim's one statement, unexecuted until awaited: exported so the plan test EXPLAINs the
 * real SQL (nested in sql`explain ${...}`), not a copy of it.
 */
export function claimStatement(sql: Db, workerId: string, n: number, leaseSeconds: number) {
  return sql<ClaimRow[]>`
    with due as (
      select d.id from submissions d
      where d.status in ('queued', 'retrying') and d.run_at <= now()
        and not exists (
          select from submissions older
          where submission_ordering_key(older.org_unit, older.period) =
                  submission_ordering_key(d.org_unit, d.period)
            and older.status in ('queued', 'running', 'retrying')
            and older.id < d.id
        )
      order by d.run_at, d.id
      limit ${n}
      for update of d skip locked
    )
    update submissions s
    set status = 'running',
        attempts = s.attempts + 1,
        locked_by = ${workerId},
        locked_until = now() + make_interval(secs => ${leaseSeconds}),
        updated_at = now()
    from due
    where s.id = due.id
    returning s.id, s.task_id, s.attempts, s.attempts_at_requeue, s.max_attempts, s.payload,
              s.codes, s.username, s.locked_until, s.updated_at, s.run_at`;
}

/**
 * Claims up to `n` due submissions for `workerId` in ONE statement: the CTE picks due rows in
 * run_at order and skips rows another worker has locked, the UPDATE sets the lease. Matches
 * `submissions_due_idx` (run_at, id) where status in (queued, retrying) exactly: selecting 8
 * due rows takes 0.4-0.6 ms on a 1,000,000-row table with 1,000 of them waiting.
 *
 * FIFO per ordering key (migration 0006): a row is not due while an older row (smaller id)
 * with the same `submission_ordering_key(org_unit, period)` is still pending (queued, running
 * or retrying), even if that one is not due yet or another worker holds it. A finished older
 * row (delivered, partial, rejected, dead) no longer counts. The NOT EXISTS probes
 * `submissions_pending_key_idx` with the index's own expression, once per candidate row.
 */
export async function claim(
  sql: Db,
  workerId: string,
  n: number,
  leaseSeconds: number,
): Promise<ClaimedJob[]> {
  if (n <= 0) return [];
  const rows = await claimStatement(sql, workerId, n, leaseSeconds);
  rows.sort((a, b) => a.run_at.getTime() - b.run_at.getTime() || a.id - b.id);
  return rows.map((r) => ({
    id: r.id,
    taskId: r.task_id,
    attempt: r.attempts,
    attemptsAtRequeue: r.attempts_at_requeue,
    maxAttempts: r.max_attempts,
    payload: r.payload,
    codes: r.codes,
    username: r.username,
    lockedUntil: r.locked_until,
    claimedAt: r.updated_at,
  }));
}

interface ClaimRow {
  id: number;
  task_id: string;
  attempts: number;
  attempts_at_requeue: number;
  max_attempts: number;
  payload: DataValueSetPayload;
  codes: string[];
  username: string;
  locked_until: Date;
  updated_at: Date;
  run_at: Date;
}

export interface ImportCountsRow {
  imported: number;
  updated: number;
  ignored: number;
  deleted: number;
}

/** What one attempt changes on its submission. */
export interface SubmissionUpdate {
  status: "retrying" | "delivered" | "partial" | "rejected" | "dead";
  /** Next due time, for `retrying`. */
  runAt: Date | null;
  lastError: string | null;
  credentialProblem: boolean;
  httpStatus: number | null;
  dhis2Status: string | null;
  counts: ImportCountsRow | null;
  conflicts: unknown[] | null;
  /** The DHIS2 reply body, when api.save_response is on. */
  response: unknown;
}

/** One row of submission_attempts. */
export interface AttemptRecord {
  outcome: "delivered" | "partial" | "rejected" | "retry" | "dead";
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
}

/**
 * Records an attempt's outcome: the attempt row and the submission update in one statement,
 * fenced by (locked_by, attempts): a worker whose lease expired and whose row was rescued (and
 * maybe claimed again, even by itself) changes nothing. Returns false when fenced out.
 */
export async function recordAttempt(
  sql: Db,
  job: { id: number; attempt: number },
  workerId: string,
  update: SubmissionUpdate,
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
      update submissions
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
      returning id
    )
    insert into submission_attempts (
      submission_id, number, worker, started_at, finished_at, duration_ms, outcome, http_status,
      dhis2_status, imported, updated, ignored, deleted, conflicts, error, credential_problem
    )
    select id, ${job.attempt}, ${workerId}, ${attempt.startedAt}, ${attempt.finishedAt},
           ${attempt.durationMs}, ${attempt.outcome}, ${update.httpStatus}, ${update.dhis2Status},
           ${c?.imported ?? null}, ${c?.updated ?? null}, ${c?.ignored ?? null},
           ${c?.deleted ?? null}, ${conflicts}::text::jsonb, ${update.lastError},
           ${update.credentialProblem}
    from upd
    returning submission_id`;
  return rows.length === 1;
}

/**
 * Gives a claimed submission back without using an attempt (the circuit breaker is open): the
 * claim's attempt increment is undone and the row is due again at `runAt`.
 */
export async function snooze(
  sql: Db,
  job: { id: number; attempt: number },
  workerId: string,
  runAt: Date,
): Promise<boolean> {
  const rows = await sql`
    update submissions
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
  id: number;
  attempt: number;
  status: "retrying" | "dead";
  lockedBy: string;
}

/**
 * Returns submissions whose lease expired (their worker died or stalled) to the queue, due at
 * once, and records the lost attempt as `lease_expired`. The lost attempt counts like a failed
 * one: a submission whose budget it was the last of (attempts since the last requeue reached
 * the row's max_attempts; say it crashes every worker that takes it) goes to `dead` instead.
 */
export async function rescueExpired(sql: Db, limit = 1000): Promise<RescuedJob[]> {
  const rows = await sql<{ id: number; attempts: number; status: string; locked_by: string }[]>`
    with expired as (
      select id, locked_by as old_worker, updated_at as claimed_at from submissions
      where status = 'running' and locked_until < now()
      order by locked_until
      limit ${limit}
      for update skip locked
    ), upd as (
      update submissions s
      set status = case when s.attempts - s.attempts_at_requeue >= s.max_attempts
                        then 'dead' else 'retrying' end,
          finished_at = case when s.attempts - s.attempts_at_requeue >= s.max_attempts
                             then now() end,
          run_at = now(),
          last_error = 'lease expired: worker ' || coalesce(expired.old_worker, '?') ||
                       ' did not report this attempt in time (it stopped or stalled)',
          locked_by = null,
          locked_until = null,
          updated_at = now()
      from expired
      where s.id = expired.id
      returning s.id, s.attempts, s.status, s.last_error, expired.old_worker, expired.claimed_at
    ), att as (
      insert into submission_attempts (
        submission_id, number, worker, started_at, finished_at, duration_ms, outcome, error
      )
      select id, attempts, coalesce(old_worker, '?'), claimed_at, now(),
             (extract(epoch from now() - claimed_at) * 1000)::integer, 'lease_expired',
             last_error
      from upd
      on conflict do nothing
    )
    select id, attempts, status, old_worker as locked_by from upd`;
  return rows.map((r) => ({
    id: r.id,
    attempt: r.attempts,
    status: r.status as "retrying" | "dead",
    lockedBy: r.locked_by,
  }));
}

/** Wakes every listening worker (outside a transaction: at once; inside: on commit). */
export async function notifyWorkers(sql: Db): Promise<void> {
  await sql`select pg_notify(${CHANNEL}, '')`;
}
