/**
 * The batch side of the queue's SQL: claiming deliveries that may share one request, finding
 * what newer deliveries of a key already wrote, and recording a batch's exchanges and every
 * delivery's attempt in bulk. Kind-agnostic like queries.ts: a batch is "same destination, kind
 * and `batch_key`" (set at enqueue by the kind), its size counts `weight` (set likewise).
 */
import type { PendingQuery, Row } from "postgres";
import { type Db, pipelined, type Sql } from "../db/db.ts";
import type { BatchExchange, ClaimedDelivery, FinishedDelivery } from "./kind.ts";
import {
  type AttemptRecord,
  type ClaimRow,
  type DeliveryUpdate,
  hasNewer,
  noOlderPending,
  toClaimed,
} from "./queries.ts";

export interface BatchLimits {
  /** The most `weight` one claim takes; the head is taken even when it alone weighs more. */
  maxValues: number;
  /** A batch lighter than maxValues waits until its oldest delivery is this old (0: never). */
  maxWaitMs: number;
}

/**
 * Claims one batch in ONE statement: the head is the first due delivery in (run_at, id) order,
 * exactly as `claim` picks; then the due deliveries with its destination, kind and batch key
 * join in the same order while their weights fit. FIFO per ordering key holds: a delivery
 * joins only when nothing older of its key is pending, except that the held followers of a key
 * whose head is in the batch join too (in id order, while nothing older of the key is left
 * out): within one import the kind keeps only the newest value of each data value, so a burst
 * of re-sends of one key costs one import instead of one each. Empty when nothing is due, or
 * when the batch is light and its head younger than `maxWaitMs`.
 */
export async function claimBatch(
  sql: Db,
  workerId: string,
  limits: BatchLimits,
  leaseSeconds: number,
  destination?: string,
): Promise<ClaimedDelivery[]> {
  return inBatchOrder(await claimBatchStatement(sql, workerId, limits, leaseSeconds, destination));
}

export function inBatchOrder(rows: ClaimRow[]): ClaimedDelivery[] {
  // Claim order: the kind keeps the newest value of a key, and newer means a larger id.
  rows.sort((a, b) => a.id - b.id);
  return rows.map(toClaimed);
}

/** Batches up to this many deliveries say which have a newer one (claimBatchStatement). */
export const SAYS_NEWER_UP_TO = 16;

/**
 * claimBatch's one statement, unexecuted until awaited (a test or bench can EXPLAIN it). With
 * `destination`, the head is that destination's oldest due delivery (deliveries_due_dest_idx):
 * a destination's worker claims only its own batches.
 */
export function claimBatchStatement(
  sql: Db,
  workerId: string,
  limits: BatchLimits,
  leaseSeconds: number,
  destination?: string,
  bound?: ClaimBound,
) {
  const max = Math.max(1, limits.maxValues);
  const waitSeconds = Math.max(0, limits.maxWaitMs) / 1000;
  // FIFO per key: noOlderPending says why it is not NOT EXISTS.
  return sql<(ClaimRow & { running?: number; tokens?: number | null })[]>`
    with ${bound ? sql`state as (${bound.state}),` : sql``} head as (
      select d.id, d.destination, d.kind, d.batch_key, d.run_at, d.weight, d.ordering_key
      from deliveries d
      where d.status in ('queued', 'retrying') and not d.held and d.run_at <= now()
        ${destination === undefined ? sql`` : sql`and d.destination = ${destination}`}
        ${bound ? sql`and ${bound.gate}` : sql``}
        and ${noOlderPending(sql, "d")}
      order by d.run_at, d.id
      limit 1
      for update of d skip locked
    ), candidates as (
      -- Scalar subqueries, not a join with head, so the scan is an ordered range of
      -- deliveries_batch_due_idx that stops at the LIMIT. Twice the rows the head's weight
      -- suggests are read, summed in order, and only those that fit are locked below.
      select x.id from (
        select c.id, sum(c.weight) over (order by c.run_at, c.id) as upto
        from (
          select d2.id, d2.weight, d2.run_at from deliveries d2
          where d2.destination = (select destination from head)
            and d2.kind = (select kind from head)
            and d2.batch_key = (select batch_key from head)
            and d2.status in ('queued', 'retrying') and not d2.held and d2.run_at <= now()
            and ${noOlderPending(sql, "d2")}
          order by d2.run_at, d2.id
          limit (select 2 * ceil(${max}::numeric / greatest(weight, 1))::bigint + 1 from head)
        ) c
      ) x
      where x.upto <= ${max}
    ), heads as (
      -- One primary key lookup per candidate, locked there (a plan joining by id could scan
      -- the due index instead when the statistics are stale).
      select l.id, l.weight, l.run_at, l.ordering_key
      from candidates c cross join lateral (
        select d.id, d.weight, d.run_at, d.ordering_key from deliveries d
        where d.id = c.id and d.status in ('queued', 'retrying') and not d.held
        for update skip locked
      ) l
    ), pool as (
      select id, weight, run_at, ordering_key from heads
      union
      select id, weight, run_at, ordering_key from head
    ), ranked as (
      select id, ordering_key,
             sum(weight) over (order by run_at, id) as upto,
             sum(weight) over () as total,
             row_number() over (order by run_at, id) as n
      from pool
    ), picked_heads as (
      select r.id, r.ordering_key, r.upto from ranked r, head h
      where (r.upto <= ${max} or r.n = 1)
        and (r.total >= ${max} or h.run_at <= now() - make_interval(secs => ${waitSeconds}))
    ), used as (
      select coalesce(max(upto), 0) as w from picked_heads
    ), followers as (
      -- Per key of the batch: its held deliveries, by deliveries_pending_key_idx, up to the
      -- first pending one of the key that stays behind (not in the batch and no follower
      -- itself): what is newer must wait for it. That one is found once per key, not once per
      -- follower: probing "anything older left out?" per follower read every older held row
      -- each time, 5.9 s for one claim of a key with 4,000 held deliveries (issue 13).
      select f.id, f.weight
      from (
        select distinct ordering_key from picked_heads
        -- Nothing held at this destination (almost always): no probes at all (migration 0021).
        where exists (
          select from deliveries h
          where h.destination = (select destination from head) and h.held
            and h.status in ('queued', 'retrying'))
      ) k cross join lateral (
        select min(o.id) as id from deliveries o
        where o.destination = (select destination from head) and o.ordering_key = k.ordering_key
          and o.status in ('queued', 'running', 'retrying')
          and o.id <> all(array(select id from picked_heads))
          and not (o.held and o.status in ('queued', 'retrying') and o.run_at <= now()
                   and o.kind = (select kind from head)
                   and o.batch_key = (select batch_key from head))
      ) stop cross join lateral (
        select f.id, f.weight from deliveries f
        where f.destination = (select destination from head) and f.ordering_key = k.ordering_key
          and f.kind = (select kind from head) and f.batch_key = (select batch_key from head)
          and f.held and f.status in ('queued', 'retrying') and f.run_at <= now()
          and (stop.id is null or f.id < stop.id)
        order by f.id
        limit ${max}
        for update of f skip locked
      ) f
    ), picked as (
      select id from picked_heads
      union all
      select x.id from (
        select id, sum(weight) over (order by id) as upto from followers
      ) x, used
      where x.upto + used.w <= ${max}
    ), claimed as (
      update deliveries d
      set status = 'running',
          attempts = d.attempts + 1,
          held = false,
          locked_by = ${workerId},
          locked_until = now() + make_interval(secs => ${leaseSeconds}),
          updated_at = now()
      where d.id = any(array(select id from picked))
      returning d.id, d.submission_id, d.kind, d.destination, d.attempts, d.attempts_at_requeue,
                d.max_attempts, d.locked_until, d.updated_at, d.run_at, d.batch_key,
                d.payload as own_payload, d.codes as own_codes
    ), ${bound?.spend ? sql`spent as (${bound.spend}),` : sql``} jobs as (
      -- A copy's delivery carries its own payload (its destination's mappings, migration 0013).
      select c.id, c.submission_id, c.kind, c.destination, c.attempts, c.attempts_at_requeue,
             c.max_attempts, c.locked_until, c.updated_at, c.run_at, c.batch_key, s.task_id,
             coalesce(c.own_payload, s.payload) as payload,
             coalesce(c.own_codes, s.codes) as codes, s.username,
             -- For a small batch (the idle case): its attachNewer round trip is most of the
             -- wait. A big one leaves it to attachNewer, one probe per delivery outside the
             -- destination's lock, where these three probes each would lengthen the claims that
             -- queue on it (~10-25 ms per 1,000).
             case when (select count(*) from picked) <= ${SAYS_NEWER_UP_TO}
                  then ${hasNewer(sql, "c")} end as has_newer
      from claimed c join submissions s on s.id = c.submission_id
    )
    ${
    bound
      ? sql`select jobs.*, state.running, state.tokens from state left join jobs on true`
      : sql`select * from jobs`
  }`;
}

/**
 * What bounds a destination's batch claim (claimBatchForDestination): `state`, a one-row
 * select (`running`, `tokens`) read first and returned with every row (alone, id null, when
 * nothing was claimed); `gate`, a condition on it that must hold for anything to be claimed;
 * `spend`, a data-modifying statement run with the claim (it may read `claimed`).
 */
export interface ClaimBound {
  state: PendingQuery<Row[]>;
  gate: PendingQuery<Row[]>;
  spend: PendingQuery<Row[]> | null;
}

/**
 * attachNewer's statement, unexecuted until awaited (a test EXPLAINs it). The newer ones are
 * looked up per claimed delivery in a LATERAL subquery (its ORDER BY keeps the planner from
 * flattening it into a join), so each is one probe of deliveries_written_key_idx whatever the
 * statistics say. As a plain join, on statistics taken before anything was delivered (a burst
 * of intake, then a drain), the plan read every written delivery once per claimed one: 4.1 s
 * for a batch of 1,000 with 9,000 delivered (scripts/bench_batch_stages.ts, 2 cores), longer
 * than the import it prepared.
 */
export function newerStatement(sql: Db, ids: number[]) {
  return sql<
    {
      claimed_id: number;
      id: number;
      submission_id: number;
      task_id: string;
      status: "delivered" | "partial";
      payload: unknown;
      codes: string[];
      conflicts: unknown[] | null;
    }[]
  >`
    select c.id as claimed_id, n.id, n.submission_id, n.task_id, n.status, n.payload, n.codes,
           n.conflicts
    from deliveries c cross join lateral (
      select n.id, n.submission_id, s.task_id, n.status,
             coalesce(n.payload, s.payload) as payload, coalesce(n.codes, s.codes) as codes,
             n.conflicts
      from deliveries n join submissions s on s.id = n.submission_id
      where n.destination = c.destination and n.ordering_key = c.ordering_key
        and n.id > c.id and n.status in ('delivered', 'partial')
      order by n.id
    ) n
    where c.id = any(${ids}::bigint[])
    order by c.id, n.id`;
}

/**
 * Fills `newer` on each claimed delivery: the finished deliveries of its destination and
 * ordering key that are newer (larger id) and wrote something (delivered, partial). One query
 * for the whole claim; an index probe per delivery (`deliveries_written_key_idx`).
 */
export async function attachNewer(sql: Db, all: ClaimedDelivery[]): Promise<void> {
  // The claim said which may have any (queries.ts hasNewer).
  const jobs = all.filter((j) => j.hasNewer !== false);
  if (!jobs.length) return;
  const rows = await newerStatement(sql, jobs.map((j) => j.id));
  const byId = new Map<number, FinishedDelivery[]>();
  for (const r of rows) {
    const list = byId.get(r.claimed_id) ?? [];
    list.push({
      id: r.id,
      submissionId: r.submission_id,
      taskId: r.task_id,
      status: r.status,
      payload: r.payload,
      codes: r.codes,
      conflicts: r.conflicts,
    });
    byId.set(r.claimed_id, list);
  }
  for (const job of jobs) {
    const newer = byId.get(job.id);
    if (newer) job.newer = newer;
  }
}

export interface BatchAttempt {
  job: { id: number; attempt: number };
  update: DeliveryUpdate;
  attempt: AttemptRecord;
  batchId: string | null;
}

/**
 * Stores a batch's exchanges (one statement, unexecuted until awaited; null when there are
 * none). The halves of a split name their parent.
 */
export function insertExchangesStatement(
  sql: Db,
  workerId: string,
  kind: string,
  destination: string,
  batchKey: string | null,
  exchanges: readonly BatchExchange[],
): PendingQuery<Row[]> | null {
  if (!exchanges.length) return null;
  const rows = exchanges.map((e) => ({
    id: e.id,
    parent_id: e.parentId,
    deliveries: e.deliveryIds.length,
    value_count: e.size,
    started_at: e.startedAt.toISOString(),
    finished_at: e.finishedAt.toISOString(),
    duration_ms: e.durationMs,
    http_status: e.httpStatus,
    dhis2_status: e.remoteStatus,
    imported: e.counts?.imported ?? null,
    updated: e.counts?.updated ?? null,
    ignored: e.counts?.ignored ?? null,
    deleted: e.counts?.deleted ?? null,
    result: e.result,
    error: e.error,
  }));
  // A half's parent is in the same statement: foreign keys are checked at its end.
  return sql`
    insert into delivery_batches (
      id, parent_id, destination, kind, batch_key, worker, deliveries, value_count, started_at,
      finished_at, duration_ms, http_status, dhis2_status, imported, updated, ignored, deleted,
      result, error
    )
    select x.id, x.parent_id, ${destination}, ${kind}, ${batchKey}, ${workerId}, x.deliveries,
           x.value_count, x.started_at, x.finished_at, x.duration_ms, x.http_status,
           x.dhis2_status, x.imported, x.updated, x.ignored, x.deleted, x.result, x.error
    from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) as x(
      id uuid, parent_id uuid, deliveries int, value_count int, started_at timestamptz,
      finished_at timestamptz, duration_ms int, http_status int, dhis2_status text,
      imported int, updated int, ignored int, deleted int, result text, error text
    )`;
}

/**
 * Records a batch: its exchanges and every delivery's attempt, in one transaction sent in one
 * round trip (pipelined(); sql.begin took three). The server runs the attempts' statement after
 * the exchanges it names. Returns the ids that were recorded (the rest lost their lease).
 */
export async function recordBatchOutcomes(
  sql: Sql,
  workerId: string,
  kind: string,
  destination: string,
  batchKey: string | null,
  exchanges: readonly BatchExchange[],
  items: readonly BatchAttempt[],
): Promise<Set<number>> {
  const results = await pipelined(sql, (tx) => {
    const stored = insertExchangesStatement(tx, workerId, kind, destination, batchKey, exchanges);
    return [
      ...(stored ? [stored] : []),
      ...(items.length ? [recordAttemptsStatement(tx, workerId, items)] : []),
    ];
  });
  const rows = (items.length ? results[results.length - 1] : []) as { delivery_id: unknown }[];
  return new Set(rows.map((r) => Number(r.delivery_id)));
}

/**
 * `recordAttempt` for many deliveries in one statement: each delivery's update and attempt row,
 * each fenced by its own (locked_by, attempts), and the next held delivery of every key that
 * finished released. Returns the ids that were recorded (the rest lost their lease).
 */
export async function recordAttempts(
  sql: Db,
  workerId: string,
  items: readonly BatchAttempt[],
): Promise<Set<number>> {
  if (!items.length) return new Set();
  const rows = await recordAttemptsStatement(sql, workerId, items);
  return new Set(rows.map((r) => Number(r.delivery_id)));
}

/**
 * recordAttempts' statement, unexecuted until awaited (a test EXPLAINs it). Each delivery's
 * outcome is passed in one JSON object keyed by delivery id and looked up by key for each row
 * the UPDATE reaches by primary key, never joined: joined, on statistics that said nothing was
 * running (a queue filled in one burst), the plan compared every running delivery of this
 * worker with every outcome, 6 million pairs and 17 s for one batch of 1,000 with 6 batches in
 * flight (scripts/bench_delivery.ts, max_values 10,000).
 */
export function recordAttemptsStatement(
  sql: Db,
  workerId: string,
  items: readonly BatchAttempt[],
) {
  const input: Record<string, unknown> = {};
  for (const { job, update: u, attempt: a, batchId } of items) {
    input[job.id] = {
      attempt: job.attempt,
      status: u.status,
      run_at: u.runAt?.toISOString() ?? null,
      last_error: u.lastError,
      credential_problem: u.credentialProblem,
      http_status: u.httpStatus,
      dhis2_status: u.dhis2Status,
      imported: u.counts?.imported ?? null,
      updated: u.counts?.updated ?? null,
      ignored: u.counts?.ignored ?? null,
      deleted: u.counts?.deleted ?? null,
      conflicts: u.conflicts,
      response: u.response ?? null,
      outcome: a.outcome,
      started_at: a.startedAt.toISOString(),
      finished_at: a.finishedAt.toISOString(),
      duration_ms: a.durationMs,
      batch_id: batchId,
    };
  }
  // One parameter typed jsonb (oid 3802): serialized once here (JSON.stringify of 1,000 outcomes
  // with their share of DHIS2's reply: three references made it 26 % of the delivering
  // process's CPU, `deno task bench --profile`) and parsed once at bind. Each use reads it
  // through a scalar subquery, an InitPlan evaluated once per statement: a CTE joined to the
  // rows handed each of the 1,000 rows a copy of it (~20 µs each).
  const outcomes = sql.typed(input as never, 3802);
  return sql<{ delivery_id: number }[]>`
    with input as materialized (select ${outcomes} as j),
    upd as (
      update deliveries d
      set (status, run_at, locked_by, locked_until, last_error, credential_problem, http_status,
           dhis2_status, imported, updated, ignored, deleted, conflicts, response, updated_at,
           finished_at) = (
        select i.status, coalesce(i.run_at, d.run_at), null::text, null::timestamptz, i.last_error,
               i.credential_problem, i.http_status, i.dhis2_status, i.imported, i.updated,
               i.ignored, i.deleted, i.conflicts, i.response, now(),
               case when i.status <> 'retrying' then now() end
        from jsonb_to_record((select j from input) -> d.id::text) as i(
          status text, run_at timestamptz, last_error text, credential_problem boolean,
          http_status int, dhis2_status text, imported int, updated int, ignored int,
          deleted int, conflicts jsonb, response jsonb
        )
      )
      where d.id = any(${items.map((it) => it.job.id)}::bigint[])
        and d.status = 'running' and d.locked_by = ${workerId}
        and d.attempts = ((select j from input) -> d.id::text ->> 'attempt')::int
      returning d.id, d.destination, d.ordering_key, d.status
    ), released as (
      update deliveries n set held = false, updated_at = now()
      where n.id in (
        select (
          select min(x.id) from deliveries x
          where x.destination = k.destination and x.ordering_key = k.ordering_key
            and x.held and x.status in ('queued', 'retrying')
        )
        from (select distinct destination, ordering_key from upd where status <> 'retrying') k
      )
    )
    insert into delivery_attempts (
      delivery_id, number, worker, started_at, finished_at, duration_ms, outcome, http_status,
      dhis2_status, imported, updated, ignored, deleted, conflicts, error, credential_problem,
      batch_id
    )
    select upd.id, i.attempt, ${workerId}, i.started_at, i.finished_at, i.duration_ms,
           i.outcome, i.http_status, i.dhis2_status, i.imported, i.updated, i.ignored,
           i.deleted, i.conflicts, i.last_error, i.credential_problem, i.batch_id
    from upd, jsonb_to_record((select j from input) -> upd.id::text) as i(
      attempt int, http_status int, dhis2_status text, imported int, updated int, ignored int,
      deleted int, conflicts jsonb, last_error text, credential_problem boolean, outcome text,
      started_at timestamptz, finished_at timestamptz, duration_ms int, batch_id uuid
    )
    returning delivery_id`;
}
