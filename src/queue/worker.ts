/**
 * The delivery worker: claims due deliveries, hands each to its kind (`deliveries.kind` →
 * DeliveryKind, e.g. src/aggregate/) and records the outcome the kind returns.
 *
 * Claim (one short statement, commits the lease) → the kind sends it with no transaction open →
 * record the outcome (fenced by the lease; outcomes finishing together share one statement,
 * outcome_writer.ts). At most `maxConcurrent` deliveries
 * are in flight; an idle worker sleeps until woken (same-process submit, LISTEN/NOTIFY) or the
 * poll interval passes. A per-destination circuit breaker stops claims while DHIS2 is down and
 * lets one probe through after the cool-down; a job claimed while the breaker is open is
 * snoozed without using an attempt.
 *
 * With a destination's limits, no rate limit and batching off, the worker claims ahead
 * (worker_ahead.ts): one claim leases dozens of deliveries into a local queue, and a request
 * that ends starts the next at once, its outcome written meanwhile. max_concurrent is then
 * counted in slots across replicas (destination_slots.ts).
 */
import { isDatabaseUnavailable, type Sql } from "../db/db.ts";
import type { Logger } from "../logs/logger.ts";
import { type DeliveryWindow, windowState } from "../config/delivery_window.ts";
import { deliverySnoozes, dhis2RequestDuration, recordBatch } from "../metrics/metrics.ts";
import {
  type CircuitBreakerOptions,
  CircuitBreakers,
  type CircuitSnapshot,
} from "./circuit_breaker.ts";
import {
  claimBatchForDestination,
  claimForDestination,
  type DestinationClaim,
  type DestinationLimits,
} from "./destination_claim.ts";
import { attachNewer, type BatchLimits, claimBatch } from "./batch_queries.ts";
import type { ClaimedDelivery, DeliveryKind } from "./kind.ts";
import { countOutcome, logOutcome } from "./outcome_report.ts";
import { credentialBackoff, type Plan, planOutcome } from "./outcome_plan.ts";
import { MAX_WRITING, MAX_WRITING_AHEAD, OutcomeWriter } from "./outcome_writer.ts";
import { claim, snooze } from "./queries.ts";
import { type AttemptEvent, deliverBatch } from "./worker_batch.ts";

export type { AttemptEvent };
import type { RetryOptions } from "./retry_policy.ts";
import { Wakeup } from "./wakeup.ts";
import { Ahead, aheadSize } from "./worker_ahead.ts";

export interface WorkerOptions {
  sql: Sql;
  log: Logger;
  /** The kinds this worker delivers, found by `deliveries.kind`. */
  kinds: readonly DeliveryKind[];
  /**
   * The circuit breaker's key, shown on the status page: the destination's name (a test may
   * use any label). One worker per destination.
   */
  destination: string;
  /**
   * Claim only this destination's deliveries, within its limits across replicas. Absent (tests
   * of the queue alone): claim any destination's, limited by maxConcurrent in this process.
   */
  limits?: DestinationLimits;
  /** Deliveries start only inside this local time window (none: always). */
  window?: { window: DeliveryWindow; timeZone: string };
  /** This destination's breaker settings (applied when its breaker is first made). */
  breakerOptions?: CircuitBreakerOptions;
  /** Shared with the submission route of this process (and fed by LISTEN with PostgreSQL). */
  wakeup: Wakeup;
  workerId?: string;
  maxConcurrent: number;
  leaseSeconds: number;
  pollIntervalMs: number;
  backoff: RetryOptions;
  breakers?: CircuitBreakers;
  /**
   * batch.max_values / batch.max_wait_ms: with maxValues > 0 a claim takes a batch (one
   * destination, kind and batch key) and a kind that can sends it as one request; 0 or absent
   * sends every delivery on its own.
   */
  batch?: BatchLimits;
  /**
   * Deliveries leased ahead of sending (worker_ahead.ts), with limits, no rate limit and
   * batching off; 0 claims only what free slots can send. Default: aheadSize(maxConcurrent).
   */
  claimAhead?: number;
  now?: () => Date;
  random?: () => number;
  /** Called after each attempt was recorded (or fenced out, or snoozed); tests wait on it. */
  onAttempt?: (event: AttemptEvent) => void;
}

/** How soon a worker looks again when every slot of its destination is taken by others. */
const FULL_RETRY_MS = 200;

export function defaultWorkerId(): string {
  let host = "host";
  try {
    host = Deno.hostname();
  } catch { /* no --allow-sys=hostname: the pid and the random part still tell workers apart */ }
  return `${host}/${Deno.pid}/${crypto.randomUUID().slice(0, 8)}`;
}

export class Worker {
  readonly id: string;
  readonly #o: WorkerOptions;
  readonly #log: Logger;
  readonly #breakers: CircuitBreakers;
  readonly #destination: string;
  readonly #kinds: ReadonlyMap<string, DeliveryKind>;
  readonly #now: () => Date;
  readonly #random: () => number;
  /** Lone deliveries' outcomes, several finished ones per statement (group commit). */
  readonly #writer: OutcomeWriter;
  readonly #inFlight = new Set<Promise<boolean>>();
  readonly #stop = new AbortController();
  /** Woken when a delivery ends: a slot is free, or the breaker changed. */
  readonly #slotFreed = new Wakeup();
  #loop?: Promise<void>;
  /** The last claim filled every slot it asked for, so more work may be due right now. */
  #maybeMore = false;
  /** The local queue of a worker that claims ahead. */
  readonly #ahead?: Ahead;

  constructor(opts: WorkerOptions) {
    this.#o = opts;
    this.id = opts.workerId ?? defaultWorkerId();
    this.#log = opts.log.child({ worker: this.id });
    this.#breakers = opts.breakers ?? new CircuitBreakers();
    this.#destination = opts.destination;
    this.#kinds = new Map(opts.kinds.map((k) => [k.name, k]));
    this.#now = opts.now ?? (() => new Date());
    this.#random = opts.random ?? Math.random;
    const size = opts.claimAhead ?? aheadSize(opts.maxConcurrent);
    if (
      opts.limits && !(opts.limits.ratePerSecond > 0) &&
      !(opts.batch && opts.batch.maxValues > 0) &&
      size > 0
    ) {
      this.#ahead = new Ahead({
        sql: opts.sql,
        workerId: this.id,
        destination: opts.limits.name,
        maxConcurrent: opts.limits.maxConcurrent,
        maxLocal: opts.maxConcurrent,
        leaseSeconds: opts.leaseSeconds,
        size: Math.max(size, opts.maxConcurrent),
      });
    }
    this.#writer = new OutcomeWriter(
      opts.sql,
      this.id,
      this.#ahead ? MAX_WRITING_AHEAD : MAX_WRITING,
    );
  }

  /** Claims made ahead and deliveries they leased (undefined: this worker does not). */
  get aheadStats(): { claims: number; leased: number } | undefined {
    return this.#ahead?.stats;
  }

  #breaker() {
    return this.#breakers.get(this.#destination, this.#o.breakerOptions);
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  start(): void {
    if (this.#loop) return;
    this.#log.info("worker started", {
      maxConcurrent: this.#o.maxConcurrent,
      leaseSeconds: this.#o.leaseSeconds,
      destination: this.#destination,
    });
    this.#loop = this.#run();
  }

  /**
   * Stops claiming, then waits up to `graceMs` for deliveries in flight. Those still running
   * after that are left to their lease: the rescuer returns them to the queue.
   */
  async stop(graceMs: number): Promise<{ graceful: boolean }> {
    this.#stop.abort();
    await this.#loop;
    if (this.#ahead) {
      // Leased, never sent: back to the queue now, without the attempt their claim counted.
      await this.#ahead.giveBack(null).catch((err) =>
        this.#log.warn("giving back unsent deliveries failed; their leases will expire", {
          error: err as Error,
        })
      );
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const drained = Promise.all(this.#inFlight).then(() => true);
    const timeout = new Promise<boolean>((r) => timer = setTimeout(() => r(false), graceMs));
    const graceful = await Promise.race([drained, timeout]);
    clearTimeout(timer);
    if (graceful && this.#ahead) {
      await this.#ahead.release().catch(() => {/* the row lapses with its lease */});
    }
    if (!graceful) {
      this.#log.warn("worker stopped with deliveries in flight; their leases will expire", {
        inFlight: this.#inFlight.size,
      });
    } else this.#log.info("worker stopped");
    return { graceful };
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      let waitMs = this.#o.pollIntervalMs;
      const free = this.#o.maxConcurrent - this.#inFlight.size;
      const now = this.#now();
      const breaker = this.#breaker();
      const snap = breaker.snapshot(now);
      let want = 0;
      if (snap.state === "closed") want = free;
      else if (snap.state === "half_open") want = snap.probeInFlight ? 0 : Math.min(free, 1);
      else waitMs = Math.min(waitMs, Math.max(0, snap.nextProbeAt!.getTime() - now.getTime()));
      const win = this.#o.window &&
        windowState(this.#o.window.window, now, this.#o.window.timeZone);
      if (win && !win.open) {
        want = 0;
        waitMs = Math.min(waitMs, Math.max(0, win.nextChangeAt!.getTime() - now.getTime()));
      }
      if (this.#ahead) {
        try {
          waitMs = await this.#aheadRound(snap, !win || win.open, waitMs);
          failures = 0;
          if (this.#maybeMore && this.#ahead.room() > 0) continue;
        } catch (err) {
          failures++;
          waitMs = Math.min(this.#o.pollIntervalMs, 250 * 2 ** Math.min(failures, 6));
          this.#log.error("claim failed", { error: err as Error });
        }
      } else if (want > 0) {
        try {
          const batch = this.#o.batch;
          const limits = this.#o.limits;
          let claimed = 0;
          // Slots held by other replicas free without telling us: look again soon. (When every
          // slot is this worker's own, a finishing delivery wakes it instead.)
          const bounded = (r: DestinationClaim) => {
            if (r.full && this.#inFlight.size < this.#o.maxConcurrent) {
              waitMs = Math.min(waitMs, FULL_RETRY_MS);
            }
            if (r.rateWaitMs !== null) waitMs = Math.min(waitMs, r.rateWaitMs);
            return r.jobs;
          };
          if (batch && batch.maxValues > 0) {
            // One batch per free slot, until the queue has nothing due. With limits, a batch is
            // one request: it takes one of the destination's slots and one rate token.
            while (claimed < want) {
              const group = limits
                ? bounded(
                  await claimBatchForDestination(
                    this.#o.sql,
                    limits,
                    batch,
                    this.id,
                    this.#o.leaseSeconds,
                  ),
                )
                : await claimBatch(this.#o.sql, this.id, batch, this.#o.leaseSeconds);
              if (!group.length) break;
              claimed++;
              // attachNewer runs with the delivery, not here: the next claim need not wait.
              this.#track(this.#deliverGroup(group));
            }
            // A light batch waiting for max_wait_ms: look again when it may have matured.
            if (!claimed && batch.maxWaitMs > 0) waitMs = Math.min(waitMs, batch.maxWaitMs);
          } else {
            const jobs = limits
              ? bounded(
                await claimForDestination(
                  this.#o.sql,
                  limits,
                  this.id,
                  want,
                  this.#o.leaseSeconds,
                ),
              )
              : await claim(this.#o.sql, this.id, want, this.#o.leaseSeconds);
            claimed = jobs.length;
            await attachNewer(this.#o.sql, jobs);
            for (const job of jobs) this.#track(this.#deliver(job));
          }
          failures = 0;
          this.#maybeMore = claimed === want && snap.state === "closed";
          if (this.#maybeMore && this.#inFlight.size < this.#o.maxConcurrent) continue;
        } catch (err) {
          // The database is away; back off so a dead server is not hammered in a loop.
          failures++;
          waitMs = Math.min(this.#o.pollIntervalMs, 250 * 2 ** Math.min(failures, 6));
          this.#log.error("claim failed", { error: err as Error });
        }
      }
      await this.#sleep(waitMs, signal);
    }
  }

  /** One round of a worker that claims ahead; returns how long to sleep after it. */
  async #aheadRound(snap: CircuitSnapshot, open: boolean, waitMs: number): Promise<number> {
    const ahead = this.#ahead!;
    if (ahead.stale.length) await ahead.giveBackStale();
    if (ahead.ready.length && (snap.state === "open" || !open)) {
      // Leased deliveries must not sit out a closed window or circuit: back to the queue,
      // without the attempt their claim counted.
      await ahead.giveBack(snap.state === "open" ? snap.nextProbeAt! : null);
    }
    let want = 0;
    if (open && snap.state === "closed") want = ahead.room();
    else if (open && snap.state === "half_open" && !snap.probeInFlight) {
      want = ahead.ready.length || ahead.sending ? 0 : 1;
    }
    this.#maybeMore = false;
    if (want > 0 || ahead.needsRenewal(Date.now()) || ahead.slotLimited()) {
      const r = await ahead.claim(want);
      this.#maybeMore = want > 0 && r.got === want && snap.state === "closed";
      // Slots held by other replicas free without telling us: look again soon.
      if (ahead.slotLimited() || (r.avail === 0 && want > 0)) {
        waitMs = Math.min(waitMs, FULL_RETRY_MS);
      }
    }
    this.#pump();
    return waitMs;
  }

  /** Starts ready deliveries while this worker's slots allow. */
  #pump(): void {
    const ahead = this.#ahead!;
    if (this.#stop.signal.aborted) return;
    // An open circuit or a closed window: the loop gives the ready ones back in one statement,
    // not one by one (a request ending after the window closed must not start the next).
    const now = this.#now();
    const win = this.#o.window &&
      windowState(this.#o.window.window, now, this.#o.window.timeZone);
    if (this.#breaker().state(now) === "open" || (win && !win.open)) {
      // Only when there is something to give back: a wake with nothing to do would send the
      // loop round again at once, a loop of promises that starves every timer and socket.
      if (ahead.ready.length || ahead.stale.length) this.#slotFreed.wake();
      return;
    }
    for (let job = ahead.next(); job; job = ahead.next()) {
      this.#track(this.#deliverLeased(job));
    }
    if (ahead.stale.length) this.#slotFreed.wake();
  }

  /** Sends a delivery leased ahead; its slot frees when the request has ended. */
  async #deliverLeased(job: ClaimedDelivery): Promise<boolean> {
    const ahead = this.#ahead!;
    let freed = false;
    const free = () => {
      if (freed) return;
      freed = true;
      ahead.sent();
      this.#pump();
      if (ahead.room() > 0) this.#slotFreed.wake();
    };
    try {
      // Looked up now, not at the claim: a newer delivery of the key running then may have
      // written something while this one waited its turn.
      if (job.hasNewer !== false) await attachNewer(this.#o.sql, [job]);
      return await this.#deliver(job, free);
    } catch (err) {
      this.#log.error("reading newer deliveries failed; the lease will return the delivery", {
        error: err as Error,
      });
      return false;
    } finally {
      free();
    }
  }

  /** Sleeps until a wake-up, a freed slot, `ms`, or stop; whichever comes first. */
  async #sleep(ms: number, stop: AbortSignal): Promise<void> {
    const round = new AbortController();
    const onStop = () => round.abort();
    stop.addEventListener("abort", onStop, { once: true });
    try {
      await Promise.race([
        this.#o.wakeup.wait(ms, round.signal),
        this.#slotFreed.wait(ms, round.signal),
      ]);
    } finally {
      round.abort();
      stop.removeEventListener("abort", onStop);
    }
  }

  #track(p: Promise<boolean>): void {
    const done = p.then((released) => released, () => false);
    this.#inFlight.add(done);
    done.then((released) => {
      this.#inFlight.delete(done);
      // Only worth a claim when more work may be due, the breaker may have let go, or a
      // finished delivery released the next one of its ordering key (FIFO per key: that one
      // was not claimable until now, and no NOTIFY announces it).
      if (
        released || this.#maybeMore ||
        this.#breaker().state(this.#now()) !== "closed"
      ) {
        this.#slotFreed.wake();
      }
    });
  }

  /** Delivers a claimed batch; true when one finished (a key's next delivery may go now). */
  async #deliverGroup(group: ClaimedDelivery[]): Promise<boolean> {
    try {
      await attachNewer(this.#o.sql, group);
    } catch (err) {
      this.#log.error("reading newer deliveries failed; the leases will return the batch", {
        error: err as Error,
      });
      return false;
    }
    const kind = this.#kinds.get(group[0].kind);
    if (!kind?.batch) {
      // Not a batching kind (or unknown: #deliver snoozes it): each on its own.
      const done = await Promise.all(group.map((job) => this.#deliver(job)));
      return done.some(Boolean);
    }
    return await deliverBatch(group, kind, {
      sql: this.#o.sql,
      log: this.#log,
      workerId: this.id,
      breaker: this.#breaker(),
      now: this.#now,
      random: this.#random,
      backoff: this.#o.backoff,
      limits: this.#o.limits,
      onAttempt: this.#o.onAttempt,
    });
  }

  /** Delivers one claimed job; true when it finished (its key's next delivery may go now). */
  async #deliver(job: ClaimedDelivery, sent?: () => void): Promise<boolean> {
    const log = this.#log.child({
      submissionId: job.submissionId,
      deliveryId: job.id,
      taskId: job.taskId,
      attempt: job.attempt,
    });
    const event = { id: job.submissionId, deliveryId: job.id, attempt: job.attempt };
    try {
      const breaker = this.#breaker();
      const startedAt = this.#now();
      const kind = this.#kinds.get(job.kind);
      if (!kind || !breaker.canAttempt(startedAt)) {
        // No attempt used either way. An unknown kind is a newer replica's work during a
        // rolling upgrade: leave it for a worker that knows it.
        const next = kind ? breaker.snapshot(startedAt).nextProbeAt?.getTime() ?? 0 : 0;
        const until = new Date(Math.max(next, startedAt.getTime() + (kind ? 1000 : 60_000)));
        const ok = await snooze(this.#o.sql, job, this.id, until);
        log.info(
          kind ? "delivery snoozed: DHIS2 circuit open" : "delivery snoozed: unknown kind",
          { kind: job.kind, until: until.toISOString(), ok },
        );
        deliverySnoozes.inc({ destination: job.destination });
        this.#o.onAttempt?.({ ...event, outcome: "snoozed" });
        return false;
      }
      const t0 = performance.now();
      const outcome = await kind.deliver(job, { now: this.#now });
      const finishedAt = this.#now();
      if (outcome.kind === "snooze") {
        sent?.();
        deliverySnoozes.inc({ destination: job.destination });
        const ok = await snooze(this.#o.sql, job, this.id, outcome.until);
        log.info("delivery snoozed", { reason: outcome.reason, until: outcome.until, ok });
        this.#o.onAttempt?.({ ...event, outcome: "snoozed" });
        return false;
      }
      // Whatever made this a retry (down, overloaded, refusing our credentials) will fail every
      // other delivery too: let the breaker pause them instead of burning their attempts.
      if (outcome.kind === "retry") breaker.onFailure(finishedAt);
      else breaker.onSuccess(finishedAt);
      // The request has ended and the breaker knows how: the slot may take the next one.
      sent?.();
      const plan = planOutcome(outcome, {
        budgetAttempt: job.attempt - job.attemptsAtRequeue,
        // The budget fixed on the row at enqueue, not today's setting: lowering
        // server.max_retries must not kill work already accepted.
        maxRetries: job.maxAttempts - 1,
        backoff: this.#o.backoff,
        credentialBackoff: credentialBackoff(this.#o.backoff),
        now: finishedAt,
        random: this.#random,
      });
      const elapsedMs = performance.now() - t0;
      const durationMs = Math.round(elapsedMs);
      // One delivery per import until batching combines them (then its sender records these).
      dhis2RequestDuration.observe({ destination: job.destination }, elapsedMs / 1000);
      recordBatch(job.destination, 1);
      const recorded = await this.#record(job, plan, { startedAt, finishedAt, durationMs });
      logOutcome(log, plan, { durationMs }, recorded);
      countOutcome(job.destination, plan, recorded);
      this.#o.onAttempt?.({
        ...event,
        outcome: recorded ? plan.outcome : "fenced",
        status: plan.update.status,
      });
      return recorded && plan.update.status !== "retrying";
    } catch (err) {
      // The lease brings the job back; nothing else to do here.
      log.error("delivery failed unexpectedly; the lease will return it", { error: err as Error });
      return false;
    }
  }

  /** The exchange has happened: try hard to record it, a failed record means a re-send. */
  async #record(
    job: ClaimedDelivery,
    plan: Plan,
    times: { startedAt: Date; finishedAt: Date; durationMs: number },
  ): Promise<boolean> {
    for (let i = 0;; i++) {
      try {
        return await this.#writer.record(job, plan.update, { outcome: plan.outcome, ...times });
      } catch (err) {
        // Through a database outage shorter than the lease: no second POST to DHIS2 then.
        const delay = Math.min(250 * 2 ** i, 2000);
        const again = i < 3 || isDatabaseUnavailable(err);
        if (!again || Date.now() + delay >= job.lockedUntil.getTime()) throw err;
        this.#log.warn("recording an attempt failed; trying again", { error: err as Error });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}
