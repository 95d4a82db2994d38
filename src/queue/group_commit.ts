/**
 * Group commit for intake: submissions that arrive while an INSERT is in flight wait for it and
 * are then written together by one multi-row statement (one round trip, one commit), instead of
 * one statement each. A submission that finds nothing in flight is written at once, alone, by
 * the same statement: at low load nothing waits for company.
 *
 * Each caller's promise settles only after the statement holding its row has committed. When a
 * group's statement fails because the database is away, every member gets that error (a 503:
 * retry, with the same Idempotency-Key). Any other failure may be one bad row, so each member is
 * then written again on its own: the bad row fails alone and its neighbours are stored.
 */
import type { PendingQuery } from "postgres";
import { type Db, isDatabaseUnavailable } from "../db/db.ts";
import {
  enqueue,
  type EnqueueResult,
  type NewSubmission,
  olderPendingOfKey,
  type SubmissionStatus,
} from "./queries.ts";

interface Waiting {
  s: NewSubmission;
  /** keysOf(s), computed once: a waiting submission is looked at on every pump. */
  keys: string[];
  resolve: (r: EnqueueResult) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions {
  /**
   * Statements in flight at once; past it, submissions wait and join the next group. One alone
   * leaves PostgreSQL idle while this process answers a group and the gateway idle while
   * PostgreSQL commits the next: 2 measured 1.43× the ungrouped route's accepted/s, 1 0.79×
   * and 4 1.23× (`deno task bench --ab`, 32 connections, 2 cores). The bench posts one
   * ordering key only, which never has two statements in flight (see #pump): 1.26× there.
   */
  maxInFlight?: number;
  /** Submissions in one statement at most. */
  maxRows?: number;
}

export interface GroupCommitStats {
  /** Statements written: single-row and grouped. */
  statements: number;
  /** Grouped statements (two submissions or more) and the submissions they held. */
  groups: number;
  grouped: number;
  /** Groups that failed for some other reason than the database's absence and were split. */
  split: number;
}

export type EnqueueFn = (s: NewSubmission) => Promise<EnqueueResult>;

export class GroupCommit {
  #waiting: Waiting[] = [];
  #inFlight = 0;
  /** The ordering keys (destination and key) of the statements in flight, counted. */
  #busyKeys = new Map<string, number>();
  readonly stats: GroupCommitStats = { statements: 0, groups: 0, grouped: 0, split: 0 };

  constructor(private sql: Db, private opts: GroupCommitOptions = {}) {}

  /** Stores `s` and its deliveries; settles once its row is committed. */
  enqueue: EnqueueFn = (s) => {
    // As enqueue() refuses it: a submission's status is its deliveries' (0008), and the logs'
    // status filter finds submissions through them (0020).
    if (!s.deliveries.length) {
      return Promise.reject(new Error("a submission needs at least one delivery"));
    }
    const p = Promise.withResolvers<EnqueueResult>();
    this.#waiting.push({ s, keys: keysOf(s), resolve: p.resolve, reject: p.reject });
    this.#pump();
    return p.promise;
  };

  #pump(): void {
    const maxInFlight = this.opts.maxInFlight ?? 2;
    const maxRows = this.opts.maxRows ?? 100;
    while (this.#inFlight < maxInFlight && this.#waiting.length > 0) {
      // Never two statements in flight with the same ordering key: the later one could not see
      // the earlier's uncommitted row, and both would leave the key's deliveries un-held (two
      // heads of one key, which makes the batch claim send that key one delivery at a time).
      const group: Waiting[] = [];
      const rest: Waiting[] = [];
      for (const w of this.#waiting) {
        const free = group.length < maxRows && w.keys.every((k) => !this.#busyKeys.has(k));
        (free ? group : rest).push(w);
      }
      if (group.length === 0) return;
      this.#waiting = rest;
      const keys = group.flatMap((w) => w.keys);
      for (const k of keys) this.#busyKeys.set(k, (this.#busyKeys.get(k) ?? 0) + 1);
      this.#inFlight++;
      this.#write(group).finally(() => {
        for (const k of keys) {
          const n = this.#busyKeys.get(k)! - 1;
          if (n === 0) this.#busyKeys.delete(k);
          else this.#busyKeys.set(k, n);
        }
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #write(group: Waiting[]): Promise<void> {
    this.stats.statements++;
    if (group.length > 1) {
      this.stats.groups++;
      this.stats.grouped += group.length;
    }
    const taskIds = group.map(() => crypto.randomUUID());
    let rows: GroupRow[];
    try {
      // A lone submission too: the single-row statement's custom plan was planned afresh on
      // every call (0.26 ms of PostgreSQL's CPU each, about half its cost at half of the peak);
      // this statement's one JSON parameter gets a generic plan, planned once per connection.
      rows = await insertGroup(this.sql, group.map((w) => w.s), taskIds);
    } catch (err) {
      if (isDatabaseUnavailable(err) || group.length === 1) {
        for (const w of group) w.reject(err);
        return;
      }
      this.stats.split++;
      await Promise.all(group.map((w) => this.#single(w)));
      return;
    }
    const byTask = new Map(rows.map((r) => [r.task_id, r]));
    const replays: Waiting[] = [];
    group.forEach((w, i) => {
      const r = byTask.get(taskIds[i]);
      if (!r) return replays.push(w);
      w.resolve({
        inserted: true,
        id: r.id,
        taskId: r.task_id,
        status: r.status,
        requestHash: r.request_hash,
        payload: r.payload,
        unmappedCodes: r.unmapped_codes,
      });
    });
    // Not inserted: its Idempotency-Key names a stored submission (maybe one of this group).
    // The single-row path finds it, as it would have without the group.
    await Promise.all(replays.map((w) => this.#single(w)));
  }

  async #single(w: Waiting): Promise<void> {
    try {
      w.resolve(await enqueue(this.sql, w.s));
    } catch (err) {
      w.reject(err);
    }
  }
}

function keysOf(s: NewSubmission): string[] {
  return s.deliveries.map((d) => `${d.destination}\u0000${d.orderingKey}`);
}

interface GroupRow {
  id: number;
  task_id: string;
  status: SubmissionStatus;
  request_hash: string;
  payload: unknown;
  unmapped_codes: string[];
}

/**
 * queries.ts enqueue's statement for many submissions: the whole group as one JSON parameter
 * (one statement text and one generic plan whatever the group's size; no planning per call),
 * rows matched back by a task id chosen here. Each submission's request text goes in verbatim
 * (numbers exactly as written), spliced into the document rather than escaped as a string.
 * A delivery behind an older pending one of its key is held, an older one of the same group
 * included (which the statement's snapshot cannot see in the table).
 */
export function insertGroup(
  sql: Db,
  subs: NewSubmission[],
  taskIds: string[],
): PendingQuery<GroupRow[]> {
  return sql<GroupRow[]>`
    with input as (
      select * from jsonb_to_recordset(${groupDocument(subs, taskIds)}::text::jsonb) as i(
        ord int, task_id uuid, user_uid text, username text, source_name text,
        idempotency_key text, request_hash text, org_unit text, org_unit_name text, period text,
        data_set text, kind text, payload jsonb, codes text[], unmapped_codes text[],
        deliveries jsonb, request jsonb)
    ), sub as (
      insert into submissions (
        task_id, user_uid, username, source_name, idempotency_key, request_hash, org_unit,
        org_unit_name, period, data_set, kind, request, payload, codes, unmapped_codes
      )
      select task_id, user_uid, username, source_name, idempotency_key, request_hash, org_unit,
             org_unit_name, period, data_set, kind, request, payload, codes, unmapped_codes
      from input
      order by ord
      on conflict (user_uid, idempotency_key) where idempotency_key is not null do nothing
      returning id, task_id, status, request_hash, payload, unmapped_codes
    ), x as (
      select sub.id as submission_id, i.ord, d.*
      from input i
      join sub on sub.task_id = i.task_id
      cross join lateral jsonb_to_recordset(i.deliveries) as d(
        n int, destination text, kind text, ordering_key text, max_attempts int, payload jsonb,
        codes text[], batch_key text, weight int)
    ), del as (
      insert into deliveries (
        submission_id, destination, kind, ordering_key, max_attempts, payload, codes, batch_key,
        weight, held
      )
      select x.submission_id, x.destination, x.kind, x.ordering_key, x.max_attempts, x.payload,
             case when x.payload is null then null else x.codes end, x.batch_key, x.weight,
             row_number() over (partition by x.destination, x.ordering_key order by x.ord, x.n)
               > 1
             or ${olderPendingOfKey(sql, "x")}
      from x
      -- In arrival order, so delivery ids (FIFO per key) follow it.
      order by x.ord, x.n
    )
    select * from sub`;
}

/**
 * The group as one JSON array of submissions, each with its deliveries. Built as text so that
 * the request (already JSON) is placed as it is, and postgres.js sends one string.
 */
export function groupDocument(subs: NewSubmission[], taskIds: string[]): string {
  let doc = "[";
  subs.forEach((s, i) => {
    const head = JSON.stringify({
      ord: i,
      task_id: taskIds[i],
      user_uid: s.userUid,
      username: s.username,
      source_name: s.sourceName,
      idempotency_key: s.idempotencyKey,
      request_hash: s.requestHash,
      org_unit: s.orgUnit,
      org_unit_name: s.orgUnitName,
      period: s.period,
      data_set: s.dataSet,
      kind: s.kind,
      payload: s.payload,
      codes: s.codes,
      unmapped_codes: s.unmappedCodes,
      deliveries: s.deliveries.map((d, n) => ({
        n,
        destination: d.destination,
        kind: d.kind,
        ordering_key: d.orderingKey,
        max_attempts: d.maxAttempts,
        payload: d.payload,
        codes: d.codes ?? [],
        batch_key: d.batchKey ?? null,
        weight: Math.max(1, d.weight ?? 1),
      })),
    });
    // The object's closing brace makes way for the request, the last key.
    doc += (i ? "," : "") + head.slice(0, -1) + ',"request":' + s.requestJson + "}";
  });
  return doc + "]";
}
