/**
 * Claiming ahead (issue 18): a worker leases more deliveries than it sends at once and keeps
 * them in a local queue, so a finished request is followed by the next one at once instead of
 * after a claim's round trip, and one claim (one statement, one run of the submission summary
 * trigger) serves dozens of deliveries instead of the one or two slots that just freed.
 *
 * Its running deliveries then no longer say how many requests it has in flight, so the
 * destination's max_concurrent is counted in slots (migration 0019): a worker holds `slots`
 * until `until`, renewed by each claim, and starts no more requests than that. A claim ahead
 * grants at most max_concurrent minus the other workers' live slots minus the running
 * deliveries of workers without a live row (claimForDestination's workers, or a crashed
 * worker's until the rescuer returns them). Those claimForDestination workers count every
 * running delivery, and a worker's running deliveries are never fewer than its requests in
 * flight, so mixing both claims keeps the limit too. Same locking as claimForDestination: the
 * destination's row first, in one pipelined transaction.
 */
import type { Db, Sql } from "../db/db.ts";
import type { ClaimedDelivery } from "./kind.ts";
import { underDestinationLock } from "./destination_claim.ts";
import {
  claimedColumns,
  type ClaimRow,
  inClaimOrder,
  leaseDue,
  noOlderPending,
} from "./queries.ts";

export interface AheadClaim {
  jobs: ClaimedDelivery[];
  /** Requests this worker may now have in flight (its row in destination_slots). */
  slots: number;
  /** Slots the others leave free; 0: every slot is taken by other workers. */
  avail: number;
  /** When the slots lapse unless a claim renews them. */
  until: Date;
}

export interface AheadRequest {
  name: string;
  /** The destination's max_concurrent, across replicas. */
  maxConcurrent: number;
  /** This process's own cap (server.max_concurrent). */
  maxLocal: number;
  /** Deliveries to lease now (0: only renew the slots). */
  want: number;
  /** Requests this worker has in flight now. */
  sending: number;
  /** Deliveries it leased earlier and has not started. */
  ready: number;
  leaseSeconds: number;
}

export async function claimAhead(sql: Sql, workerId: string, r: AheadRequest): Promise<AheadClaim> {
  const rows = await underDestinationLock(
    sql,
    r.name,
    1,
    (tx) => claimAheadStatement(tx, workerId, r),
  );
  const { slots, avail, until } = rows[0];
  return { jobs: inClaimOrder(rows.filter((x) => x.id !== null)), slots, avail, until };
}

/** The claim ahead's statement (run after locking the destination's row, as claimAhead does). */
export function claimAheadStatement(sql: Db, workerId: string, r: AheadRequest) {
  return sql<(ClaimRow & { slots: number; avail: number; until: Date })[]>`
    with others as (
      select coalesce((select sum(s.slots) from destination_slots s
                       where s.destination = ${r.name} and s.worker <> ${workerId}
                         and s.until > now()), 0)
           + (select count(*) from deliveries x
              where x.destination = ${r.name} and x.status = 'running'
                and x.locked_by <> ${workerId}
                and not exists (
                  select from destination_slots s
                  where s.destination = ${r.name} and s.worker = x.locked_by
                    and s.until > now()))
             as n
    ), avail as (
      select greatest(0, ${r.maxConcurrent} - n)::int as k from others
    ), due as (
      select d.id from deliveries d
      where d.destination = ${r.name}
        and d.status in ('queued', 'retrying') and not d.held and d.run_at <= now()
        and ${noOlderPending(sql, "d")}
      order by d.run_at, d.id
      -- Nothing is leased that no slot could send.
      limit (select case when k > 0 then ${r.want}::int else 0 end from avail)
      for update of d skip locked
    ), claimed as (${leaseDue(sql, workerId, r.leaseSeconds)}), lapsed as (
      delete from destination_slots
      where destination = ${r.name} and worker <> ${workerId} and until < now()
    ), mine as (
      -- Never fewer than the requests already in flight: those are this worker's to count.
      insert into destination_slots (destination, worker, slots, until)
      select ${r.name}, ${workerId},
             greatest(${r.sending}::int, least((select k from avail), ${r.maxLocal}::int,
                      ${r.sending + r.ready}::int + (select count(*) from claimed)::int)),
             now() + make_interval(secs => ${r.leaseSeconds})
      on conflict (destination, worker)
        do update set slots = excluded.slots, until = excluded.until
      returning slots, until
    ), jobs as (${claimedColumns(sql)})
    select jobs.*, m.slots, m.avail, m.until
    from (select (select slots from mine) as slots, (select k from avail) as avail,
                 (select until from mine) as until) m
    left join jobs on true`;
}

/** Drops this worker's slots (it stopped, or has nothing leased and nothing in flight). */
export async function releaseSlots(sql: Db, destination: string, workerId: string) {
  await sql`
    delete from destination_slots where destination = ${destination} and worker = ${workerId}`;
}

/**
 * Gives back leased deliveries that were never sent (a stop, a closed window or circuit): due
 * again at `runAt` (null: when they were), without the attempt their claim counted. Each row is
 * fenced by its own lease. Returns how many were given back.
 */
export async function giveBack(
  sql: Db,
  jobs: readonly ClaimedDelivery[],
  workerId: string,
  runAt: Date | null,
): Promise<number> {
  if (!jobs.length) return 0;
  const rows = await sql`
    update deliveries d
    set status = case when d.attempts - 1 > d.attempts_at_requeue then 'retrying' else 'queued' end,
        attempts = d.attempts - 1,
        run_at = coalesce(${runAt}::timestamptz, d.run_at),
        locked_by = null,
        locked_until = null,
        updated_at = now()
    from unnest(${jobs.map((j) => j.id)}::bigint[], ${jobs.map((j) => j.attempt)}::int[])
      as x(id, attempt)
    where d.id = x.id and d.status = 'running' and d.locked_by = ${workerId}
      and d.attempts = x.attempt
    returning d.id`;
  return rows.length;
}
