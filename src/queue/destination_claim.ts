/**
 * The claim of one destination, bounded across every replica: at most `maxConcurrent` of its
 * deliveries running at once and at most `ratePerSecond` started per second, both counted in
 * the database (migration 0013's `destinations` row), so scaling out cannot overload a DHIS2.
 *
 * Why a short transaction and not the one-statement claim: every CTE of a statement shares one
 * snapshot, taken before the statement waits for a lock, so a count of running deliveries read
 * in the same statement as the lock would miss a concurrent claim committed meanwhile. Here the
 * first statement locks the destination's row (claims of one destination queue up on it), the
 * second counts and claims with a snapshot taken after the lock, so it sees every committed
 * lease. Claims of different destinations do not wait for each other.
 */
import type { PendingQuery, Row } from "postgres";
import { type Db, type PendingStatement, pipelined, type Sql } from "../db/db.ts";
import type { ClaimedDelivery } from "./kind.ts";
import {
  claimedColumns,
  type ClaimRow,
  inClaimOrder,
  leaseDue,
  noOlderPending,
} from "./queries.ts";
import { type BatchLimits, claimBatchStatement, inBatchOrder } from "./batch_queries.ts";

export interface DestinationLimits {
  name: string;
  /** Deliveries of this destination running at once, across replicas. */
  maxConcurrent: number;
  /** Requests started per second across replicas; 0: no limit. Burst: one second's worth. */
  ratePerSecond: number;
}

export interface DestinationClaim {
  jobs: ClaimedDelivery[];
  /** The rate limit held claims back: when the next token is due (ms from now). */
  rateWaitMs: number | null;
  /** Every slot of max_concurrent is taken (by any replica). */
  full: boolean;
}

export async function claimForDestination(
  sql: Sql,
  limits: DestinationLimits,
  workerId: string,
  n: number,
  leaseSeconds: number,
): Promise<DestinationClaim> {
  if (n <= 0) return { jobs: [], rateWaitMs: null, full: false };
  const rate = limits.ratePerSecond;
  const burst = Math.max(1, rate);
  const rows = await underDestinationLock(
    sql,
    limits.name,
    burst,
    (tx) => destinationClaimStatement(tx, limits, workerId, n, leaseSeconds),
  );
  {
    const got = rows.filter((r) => r.id !== null);
    const { running, tokens } = rows[0] ?? { running: 0, tokens: 0 };
    const left = tokens - got.length;
    return {
      jobs: inClaimOrder(got),
      full: running + got.length >= limits.maxConcurrent,
      rateWaitMs: rate > 0 && got.length < n && left < 1
        ? Math.ceil(((1 - left) / rate) * 1000)
        : null,
    };
  }
}

/**
 * Runs a claim statement in a short transaction that first locks the destination's row (made on
 * first use with `tokens`), and returns its rows: BEGIN, the lock, the statement and COMMIT in
 * one round trip (pipelined() says how); the statement's snapshot is taken after the lock.
 */
export async function underDestinationLock<T extends PendingStatement>(
  sql: Sql,
  name: string,
  tokens: number,
  statement: (tx: Db) => T,
): Promise<Awaited<T>> {
  const [, claimed] = await pipelined(
    sql,
    (tx) => [lockDestination(tx, name, tokens), statement(tx)] as const,
  );
  return claimed;
}

/** Creates the destination's row on first use and locks it until commit. */
function lockDestination(sql: Db, name: string, tokens: number) {
  return sql`
    insert into destinations (name, tokens) values (${name}, ${tokens})
    on conflict (name) do update set name = excluded.name`;
}

/**
 * The destination's row as a claim reads it after locking it: `running` as the caller counts it
 * (deliveries, or batches in flight), the tokens in its bucket now (null without a rate limit),
 * and when they were counted: a spend refills up to then, not to the end of the claim, or the
 * time the claim took would be lost from every refill.
 */
function destinationState(sql: Db, limits: DestinationLimits, running: PendingQuery<Row[]>) {
  const rate = limits.ratePerSecond;
  return sql`
    select (${running})::int as running,
           case when ${rate}::float8 > 0
                then least(${Math.max(1, rate)}::float8, tokens + ${rate}::float8 *
                           extract(epoch from counted_at - refilled_at))::float8
           end as tokens,
           counted_at
    from destinations, clock_timestamp() as counted_at where name = ${limits.name}`;
}

/**
 * The counting claim, unexecuted until awaited: exported so the plan test EXPLAINs the real SQL.
 * Run it only after locking the destination's row in the same transaction (claimForDestination).
 */
export function destinationClaimStatement(
  sql: Db,
  limits: DestinationLimits,
  workerId: string,
  n: number,
  leaseSeconds: number,
) {
  const rate = limits.ratePerSecond;
  return sql<(ClaimRow & { running: number; tokens: number })[]>`
    with state as (${
    destinationState(
      sql,
      limits,
      sql`select count(*) from deliveries
          where destination = ${limits.name} and status = 'running'`,
    )
  }), slots as (
      select greatest(0, least(${n}, ${limits.maxConcurrent} - running,
                               coalesce(floor(tokens)::int, ${n})))::int as k
      from state
    ), due as (
      select d.id from deliveries d
      where d.destination = ${limits.name}
        and d.status in ('queued', 'retrying') and not d.held and d.run_at <= now()
        and ${noOlderPending(sql, "d")}
      order by d.run_at, d.id
      limit (select k from slots)
      for update of d skip locked
    ), claimed as (${leaseDue(sql, workerId, leaseSeconds)}), spent as (
      update destinations
      set tokens = coalesce((select tokens from state), 0) - (select count(*) from claimed),
          refilled_at = (select counted_at from state)
      where name = ${limits.name} and ${rate}::float8 > 0
    ), jobs as (${claimedColumns(sql)})
    select jobs.*, state.running, coalesce(state.tokens, 0)::float8 as tokens
    from state left join jobs on true`;
}

/**
 * With batching on, one claim is one batch: one HTTP request (its halves, after a split, go one
 * after another). Then `maxConcurrent` counts requests, not deliveries (a batch of 500 takes
 * one slot, not all of them), and a batch spends one rate token. A request in flight is a lease
 * group: the running deliveries of one claim share `locked_by` and `locked_until` (set once per
 * claim, never extended), and two claims never share both, even by one worker (each claim is
 * its own transaction, so its own now()). A group whose lease expires counts until the rescuer
 * returns it to the queue, as claimForDestination counts its running deliveries.
 *
 * Same locking as claimForDestination: the destination's row first, then every statement of
 * the transaction sees every committed lease of that destination.
 */
export async function claimBatchForDestination(
  sql: Sql,
  limits: DestinationLimits,
  batch: BatchLimits,
  workerId: string,
  leaseSeconds: number,
): Promise<DestinationClaim> {
  const rate = limits.ratePerSecond;
  const burst = Math.max(1, rate);
  // One round trip: the lock, then one statement that reads the destination's state, claims
  // only if a slot and a token are free, and spends the token if it claimed.
  const [, rows] = await pipelined(sql, (tx) => {
    const state = destinationState(
      tx,
      limits,
      tx`select count(distinct (locked_by, locked_until)) from deliveries
         where destination = ${limits.name} and status = 'running'`,
    );
    const gate = tx`(
      select running < ${limits.maxConcurrent} and coalesce(tokens >= 1, true) from state)`;
    const spend = rate > 0
      ? tx`
        update destinations
        set tokens = (select tokens from state) - 1, refilled_at = (select counted_at from state)
        where name = ${limits.name} and exists (select from claimed)`
      : null;
    return [
      lockDestination(tx, limits.name, burst),
      claimBatchStatement(tx, workerId, batch, leaseSeconds, limits.name, { state, gate, spend }),
    ] as const;
  });
  const state = rows[0] ?? { running: 0, tokens: null };
  const running = state.running ?? 0;
  const tokens = state.tokens ?? null;
  const got = rows.filter((r) => r.id !== null);
  if (got.length) {
    return {
      jobs: inBatchOrder(got),
      full: running + 1 >= limits.maxConcurrent,
      rateWaitMs: null,
    };
  }
  if (running >= limits.maxConcurrent) return { jobs: [], full: true, rateWaitMs: null };
  if (tokens !== null && tokens < 1) {
    return { jobs: [], full: false, rateWaitMs: Math.ceil(((1 - tokens) / rate) * 1000) };
  }
  return { jobs: [], full: false, rateWaitMs: null };
}
