/**
 * The chaos suite's end checks, from three independent records: what the clients were
 * acknowledged, what the gateway's database says, and what the proxy saw the simulator apply.
 * When a check fails, the report says which submissions, in what state, and in what order the
 * simulator applied the values of a wrong key, so the cause can be read off it.
 */
import type { Sql } from "../../src/db/db.ts";
import type { Simulator } from "../../src/simulator/simulator.ts";
import type { UnexpectedExit } from "./chaos_gateway.ts";
import type { ChaosProxy, FaultKind } from "./chaos_proxy.ts";

/** One acknowledged submission: `seq` is also the value of each of its data values. */
export interface Ack {
  seq: number;
  id: number;
  keys: string[];
  /** POSTs it took to get the acknowledgement. */
  attempts: number;
}

export interface ClientStats {
  /** Replies by HTTP status, plus `connection error` and `client timeout`. */
  replies: Record<string, number>;
  /** 4xx to a valid submission: a gateway bug. */
  refused: Array<{ seq: number; status: number; body: string }>;
  /** A 200 whose payload is not this request's. */
  replyMismatches: Array<{ seq: number; reply: string }>;
}

export interface ChaosReport {
  seed: number;
  submissions: number;
  accepted: number;
  delivered: number;
  lost: number;
  repeatedImports: number;
  partialImports: number;
  wrongFinalValues: number;
  /** Why each wrong key is wrong, counted (see `wrongCause`). */
  wrongCauses: Record<string, number>;
  kills: number;
  pgRestarts: number;
  seconds: number;
  intakeSeconds: number;
  totalSeconds: number;
  pendingAtEnd: number;
  dhis2Requests: number;
  /** The longest time without a DHIS2 request while deliveries were due (breaker, leases). */
  longestDeliveryPauseS: number;
  faults: Record<string, number>;
  clientReplies: Record<string, number>;
  refused: ClientStats["refused"];
  replyMismatches: ClientStats["replyMismatches"];
  /** Stored rows no client was acknowledged for. */
  unacknowledgedStored: number;
  dbStatuses: Record<string, number>;
  attemptOutcomes: Record<string, number>;
  unexpectedExits: UnexpectedExit[];
  events: string[];
  lostDetail: Array<Record<string, unknown>>;
  wrongDetail: Array<Record<string, unknown>>;
}

export interface VerifyInput {
  sql: Sql;
  sim: Simulator;
  proxy: ChaosProxy;
  acks: Map<number, Ack>;
  lastAck: Map<string, number>;
  stats: ClientStats;
  submissions: number;
  kills: number;
  pgRestarts: number;
  seconds: number;
  intakeSeconds: number;
  totalSeconds: number;
  pendingAtEnd: number;
  unexpectedExits: UnexpectedExit[];
  events: string[];
  seed: number;
}

const DETAIL = 20;

interface Application {
  seq: number;
  exchange: number;
  fault: FaultKind | null;
  answered: number | string;
  full: boolean;
}

export async function verify(v: VerifyInput): Promise<ChaosReport> {
  const rows = await v.sql<{ id: number; status: string; attempts: number }[]>`
    select s.id::int, s.status, d.attempts
    from submissions s join deliveries d on d.submission_id = s.id`;
  const byId = new Map(rows.map((r) => [r.id, r]));
  const tally = (xs: string[]) =>
    xs.reduce<Record<string, number>>((m, x) => (m[x] = (m[x] ?? 0) + 1, m), {});
  const attemptOutcomes = Object.fromEntries(
    (await v.sql<{ outcome: string; n: number }[]>`
      select outcome, count(*)::int as n from delivery_attempts group by 1 order by 1`)
      .map((r) => [r.outcome, r.n]),
  );

  // What the simulator applied, in order: a 200 for a forwarded body stored all its values.
  const applications: Application[] = [];
  const perKey = new Map<string, Application[]>();
  const faults: Record<string, number> = {};
  let dhis2Requests = 0;
  v.proxy.exchanges.forEach((x, i) => {
    if (x.method !== "POST" || !x.path.includes("/dataValueSets")) return;
    dhis2Requests++;
    if (x.fault) {
      const applied = x.forwarded === null ? "not applied" : "applied";
      faults[`${x.fault} (${applied})`] = (faults[`${x.fault} (${applied})`] ?? 0) + 1;
    }
    if (x.forwarded === null || x.simulatorStatus !== 200) return;
    // One import may carry several submissions (batching): values carry their own period and
    // org unit then, and each submission's values are told apart by their value (its seq).
    const body = x.forwarded as {
      period?: string;
      orgUnit?: string;
      dataValues: Array<{
        dataElement: string;
        categoryOptionCombo?: string;
        period?: string;
        orgUnit?: string;
        value: string;
      }>;
    };
    const bySeq = new Map<number, typeof body.dataValues>();
    for (const dv of body.dataValues) {
      const seq = Number(dv.value);
      if (!bySeq.has(seq)) bySeq.set(seq, []);
      bySeq.get(seq)!.push(dv);
    }
    for (const [seq, values] of bySeq) {
      const ack = v.acks.get(seq);
      const app = {
        seq,
        exchange: i,
        fault: x.fault,
        answered: x.answered,
        full: ack !== undefined && values.length === ack.keys.length,
      };
      applications.push(app);
      for (const dv of values) {
        const key = `${dv.dataElement}|${dv.categoryOptionCombo ?? "HllvX50cXC0"}|${
          dv.period ?? body.period
        }|${dv.orgUnit ?? body.orgUnit}`;
        if (!perKey.has(key)) perKey.set(key, []);
        perKey.get(key)!.push(app);
      }
    }
  });
  const fullApplies = new Map<number, number>();
  let partialImports = 0;
  for (const a of applications) {
    if (a.full) fullApplies.set(a.seq, (fullApplies.get(a.seq) ?? 0) + 1);
    else partialImports++;
  }

  // Lost: acknowledged, but not delivered per the database AND applied in the simulator.
  const lostDetail: Array<Record<string, unknown>> = [];
  let delivered = 0;
  const lostIds: number[] = [];
  for (const ack of v.acks.values()) {
    const row = byId.get(ack.id);
    if (row?.status === "delivered") delivered++;
    const applied = fullApplies.get(ack.seq) ?? 0;
    if (row?.status === "delivered" && applied > 0) continue;
    // Batching sends only the newest value of a key: a submission each of whose keys DHIS2 got
    // from it or from a newer one was superseded, not lost (last value wins is checked below).
    const superseded = ack.keys.every((k) => (perKey.get(k) ?? []).some((a) => a.seq >= ack.seq));
    if (row?.status === "delivered" && superseded) continue;
    lostIds.push(ack.id);
    lostDetail.push({
      submissionId: ack.id,
      seq: ack.seq,
      dbStatus: row?.status ?? "not stored",
      attempts: row?.attempts,
      appliedInSimulator: applied,
      why: !row
        ? "acknowledged but not in the database"
        : row.status !== "delivered"
        ? `the gateway marked it ${row.status}`
        : "marked delivered, but DHIS2 never applied all its values",
    });
  }
  if (lostIds.length) {
    const tried = await v.sql<
      { submission_id: number; number: number; outcome: string; http_status: number | null }[]
    >`
      select d.submission_id::int, a.number, a.outcome, a.http_status, left(a.error, 160) as error
      from delivery_attempts a join deliveries d on d.id = a.delivery_id
      where d.submission_id = any(${lostIds.slice(0, DETAIL)}::bigint[])
      order by d.submission_id, a.number`;
    for (const d of lostDetail.slice(0, DETAIL)) {
      d.attemptLog = tried.filter((t) => t.submission_id === d.submissionId).map((t) =>
        `${t.number}:${t.outcome}${t.http_status ? `/${t.http_status}` : ""}` +
        // deno-lint-ignore no-explicit-any
        ((t as any).error ? ` (${(t as any).error})` : "")
      );
    }
  }

  // Last value wins: the simulator holds, for every key, the last acknowledged value.
  const stored = new Map<string, string | null>();
  for (const dv of v.sim.dataValues()) {
    if (dv.deleted) continue;
    stored.set(`${dv.dataElement}|${dv.categoryOptionCombo}|${dv.period}|${dv.orgUnit}`, dv.value);
  }
  const wrongDetail: Array<Record<string, unknown>> = [];
  const seqToId = (seq: number) => v.acks.get(seq)?.id;
  for (const [key, seq] of v.lastAck) {
    const value = stored.get(key) ?? null;
    if (value === String(seq)) continue;
    const history = (perKey.get(key) ?? []).map((a) =>
      `#${seqToId(a.seq) ?? "?"}(seq ${a.seq}${a.fault ? `, ${a.fault} → ${a.answered}` : ""})`
    );
    const ackedForKey = [...v.acks.values()].filter((a) => a.keys.includes(key))
      .sort((a, b) => a.seq - b.seq).map((a) => `#${a.id}(seq ${a.seq})`);
    wrongDetail.push({
      key,
      cause: wrongCause(seq, value, perKey.get(key) ?? [], byId.get(v.acks.get(seq)!.id)?.status),
      expected: `#${seqToId(seq)} (seq ${seq})`,
      found: value === null ? "no value" : `#${seqToId(Number(value)) ?? "?"} (seq ${value})`,
      acknowledgedInOrder: ackedForKey,
      appliedInOrder: history,
    });
  }

  const wrongCauses = tally(wrongDetail.map((w) => String(w.cause)));
  // The proxy sees every request, so a gap between two is a time nothing was sent.
  let longestPause = 0;
  const posts = v.proxy.exchanges.filter((x) => x.method === "POST").map((x) => x.at);
  for (let i = 1; i < posts.length; i++) {
    longestPause = Math.max(longestPause, posts[i] - posts[i - 1]);
  }
  const ackedIds = new Set([...v.acks.values()].map((a) => a.id));
  const repeatedImports = [...fullApplies.values()].reduce((n, c) => n + c - 1, 0);
  return {
    seed: v.seed,
    submissions: v.submissions,
    accepted: v.acks.size,
    delivered,
    lost: lostDetail.length,
    repeatedImports,
    partialImports,
    wrongFinalValues: wrongDetail.length,
    wrongCauses,
    kills: v.kills,
    pgRestarts: v.pgRestarts,
    seconds: Math.round(v.seconds),
    intakeSeconds: Math.round(v.intakeSeconds),
    totalSeconds: Math.round(v.totalSeconds),
    pendingAtEnd: v.pendingAtEnd,
    dhis2Requests,
    longestDeliveryPauseS: Math.round(longestPause / 100) / 10,
    faults,
    clientReplies: v.stats.replies,
    refused: v.stats.refused,
    replyMismatches: v.stats.replyMismatches,
    unacknowledgedStored: rows.filter((r) => !ackedIds.has(r.id)).length,
    dbStatuses: tally(rows.map((r) => r.status)),
    attemptOutcomes,
    unexpectedExits: v.unexpectedExits,
    events: v.events,
    lostDetail,
    wrongDetail,
  };
}

/**
 * Why a key does not hold the last acknowledged value `expected`: that submission never
 * reached DHIS2, or an older one reached it after: either re-sent after DHIS2 had applied it
 * (its reply was lost), or first delivered only after the newer one (the queue reordered them).
 */
function wrongCause(
  expected: number,
  found: string | null,
  history: Application[],
  status: string | undefined,
): string {
  const last = (seq: number) => history.findLastIndex((a) => a.seq === seq);
  if (last(expected) < 0) return `the last acknowledged submission never reached DHIS2 (${status})`;
  const f = Number(found);
  if (found === null || f > expected) return "other";
  const first = history.findIndex((a) => a.seq === f);
  return first < last(expected)
    ? "an older submission re-sent after DHIS2 had applied it, after the newer one"
    : "an older submission delivered for the first time after the newer one";
}

/** The figures, one per line, as CI prints them. */
export function formatReport(r: ChaosReport): string {
  const lines = [
    `chaos (seed ${r.seed}): ${r.submissions} submissions`,
    `  accepted:               ${r.accepted}`,
    `  delivered:              ${r.delivered}`,
    `  lost:                   ${r.lost}`,
    `  repeated HTTP imports:  ${r.repeatedImports} (+ ${r.partialImports} partial imports)`,
    `  wrong final values:     ${r.wrongFinalValues} ${
      r.wrongFinalValues ? JSON.stringify(r.wrongCauses) : ""
    }`,
    `  kills (-9):             ${r.kills}; PostgreSQL restarts: ${r.pgRestarts}`,
    `  seconds:                ${r.seconds} (intake ${r.intakeSeconds}; with set-up ${r.totalSeconds})`,
    `  DHIS2 import requests:  ${r.dhis2Requests} (longest pause ${r.longestDeliveryPauseS} s); ` +
    `faults: ${JSON.stringify(r.faults)}`,
    `  client replies:         ${JSON.stringify(r.clientReplies)}`,
    `  database statuses:      ${JSON.stringify(r.dbStatuses)}; attempts: ${
      JSON.stringify(r.attemptOutcomes)
    }`,
    `  refused (4xx): ${r.refused.length}; reply mismatches: ${r.replyMismatches.length}; ` +
    `stored without acknowledgement: ${r.unacknowledgedStored}; pending at end: ${r.pendingAtEnd}; ` +
    `unexpected gateway exits: ${r.unexpectedExits.length}`,
    ...r.events.map((e) => `  ${e}`),
  ];
  return lines.join("\n");
}
