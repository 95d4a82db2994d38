/**
 * The chaos scenario (issue 10): a real gateway process on its own PostgreSQL cluster delivers
 * to the DHIS2 simulator behind a proxy that fails a fifth of the requests, while clients post
 * concurrently, the gateway is killed with SIGKILL and restarted, and PostgreSQL is crashed and
 * restarted once. Then the queue drains and `verify` checks that nothing acknowledged was lost
 * and that every data value holds the last acknowledged submission's value.
 *
 * Used by tests/chaos_test.ts (CI size) and scripts/chaos.ts (`deno task chaos`, full size).
 */
import { ADMIN, setUpSample } from "../../scripts/sample.ts";
import { startSimulator } from "../../src/simulator/simulator.ts";
import { ChaosGateway } from "./chaos_gateway.ts";
import { type ChaosDatabase, embeddedDatabase, externalDatabase } from "./chaos_pg.ts";
import { type FaultKind, type Plan, startChaosProxy } from "./chaos_proxy.ts";
import { type Ack, type ChaosReport, type ClientStats, verify } from "./chaos_verify.ts";

export type { ChaosReport };

export interface ChaosOptions {
  /** `postgres`: the suite's own server from these binaries; `embedded`: the gateway's own. */
  db: { mode: "postgres"; pgBin: string } | { mode: "embedded" };
  submissions: number;
  /** The whole run (set-up, intake and drain) must end within this; else it fails. */
  budgetS: number;
  clients?: number;
  /** Kills while clients post (5) and after intake, while only deliveries run (1). */
  intakeKills?: number;
  drainKills?: number;
  /** Share of DHIS2 requests that fail (0.2). */
  faultRate?: number;
  /** How long PostgreSQL stays down (5 s). */
  pgDownS?: number;
  seed?: number;
  /** Where the gateway's log and the report's details are written. */
  artifacts: string;
  say?: (line: string) => void;
}

/** mulberry32: a seeded generator, so a run's fault sequence can be replayed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAULTS: FaultKind[] = ["unavailable_503", "error_500", "hang", "reset", "import_failed"];
const ORG_UNITS = ["DiszpKrYNg8", "ouBaomaCHC1"];
/** The sample mappings' numeric codes (scripts/sample.ts). */
const CODES = ["ANC1", "MAL_M", "MAL_F", "WEIGHT"];
/** 120 past monthly periods; with two org units, 240 groups of keys a client locks in turn. */
const PERIODS = Array.from(
  { length: 120 },
  (_, i) => `${2015 + Math.floor(i / 12)}${String(i % 12 + 1).padStart(2, "0")}`,
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether DHIS2 applied the import before each fault, decided per fault (see the README). */
function planFor(random: () => number, faultRate: number): Plan {
  if (random() >= faultRate) return { fault: null };
  const fault = FAULTS[Math.floor(random() * FAULTS.length)];
  const r = random();
  switch (fault) {
    case "unavailable_503": // nginx in front: DHIS2 itself never saw it
      return { fault, applied: "none" };
    case "error_500": // an exception before the import, or after its commit
    case "hang": // DHIS2 stuck before the import, or the reply lost after it
      return { fault, applied: r < 0.5 ? "none" : "all" };
    case "reset":
      return { fault, applied: r < 0.5 ? "none" : "all", halfReply: random() < 0.5 };
    case "import_failed": // a failed batch flush: "some values may already be stored"
      return { fault, applied: r < 0.5 ? "none" : r < 0.75 ? "some" : "all" };
  }
  throw new Error(`unknown fault ${fault}`);
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const say = o.say ?? console.log;
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const N = o.submissions;
  const clients = o.clients ?? 8;
  const faultRate = o.faultRate ?? 0.2;
  const started = performance.now();
  const deadline = Date.now() + o.budgetS * 1000;
  const random = seeded(seed);
  const faultRandom = seeded(seed ^ 0x5bd1e995);
  say(
    `chaos: ${o.db.mode}, seed ${seed}, ${N} submissions, ${clients} clients, ${
      faultRate * 100
    }% faults`,
  );
  await Deno.mkdir(o.artifacts, { recursive: true });
  const logFile = `${o.artifacts}/chaos-gateway-${seed}.log`;
  await Deno.remove(logFile).catch(() => {});

  const dataDir = await Deno.makeTempDir({ prefix: "dhis2gw-chaos-" });
  // As root the embedded server runs as its own OS user, who must be able to enter the folder.
  await Deno.chmod(dataDir, 0o711);
  const db: ChaosDatabase = o.db.mode === "postgres"
    ? await externalDatabase(o.db.pgBin)
    : embeddedDatabase(dataDir);
  const sim = await startSimulator();
  const proxy = startChaosProxy({ target: sim.url, decide: () => planFor(faultRandom, faultRate) });
  const gw = new ChaosGateway({
    DHIS2GW_DATA_DIR: dataDir,
    ...db.gatewayEnv,
    DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
    DHIS2GW_DHIS2_BASE_URL: proxy.url,
    DHIS2GW_DHIS2_USER: "admin",
    DHIS2GW_DHIS2_PASSWORD: "district",
    // A hang fails after 2 s; the lease is then max(5, 2 + 10) = 12 s, rescued every second.
    DHIS2GW_DHIS2_TIMEOUT: "2",
    DHIS2GW_LEASE_SECONDS: "5",
    DHIS2GW_RETRY_CRON: "* * * * * *",
    DHIS2GW_REQUEST_PROCESS_INTERVAL: "1",
    DHIS2GW_RETRY_BACKOFF_BASE: "1",
    DHIS2GW_RETRY_BACKOFF_MAX: "4",
    DHIS2GW_SHUTDOWN_GRACE: "3",
  }, logFile);
  const stats: ClientStats = { replies: {}, refused: [], replyMismatches: [] };
  const acks = new Map<number, Ack>();
  const lastAck = new Map<string, number>();
  const events: string[] = [];
  let kills = 0;
  let intakeSeconds = 0;
  try {
    await gw.up();
    const sample = await setUpSample(`${gw.url}/api/v3`);
    say(`chaos: gateway up, sample set up; log in ${logFile}`);
    const t0 = performance.now();
    const elapsed = () => ((performance.now() - t0) / 1000).toFixed(1);
    const count = (what: string) => stats.replies[what] = (stats.replies[what] ?? 0) + 1;

    // --- the clients ------------------------------------------------------------------------
    const locked = new Set<number>();
    let next = 1;
    let posting = 0;
    let stopClients = false;
    const submitUntilAcked = async (seq: number, group: number) => {
      const orgUnit = ORG_UNITS[group % 2];
      const period = PERIODS[Math.floor(group / 2)];
      const codes = CODES.filter(() => random() < 0.5);
      if (!codes.length) codes.push(CODES[Math.floor(random() * CODES.length)]);
      const body = JSON.stringify({
        orgUnit,
        period,
        dataSet: "pBOMPrpg1QX",
        dataValues: Object.fromEntries(codes.map((c) => [c, seq])),
      });
      for (let attempt = 0; !stopClients; attempt++) {
        let res: Response;
        posting++;
        try {
          res = await fetch(`${gw.url}/api/v3/aggregate`, {
            method: "POST",
            headers: {
              "Content-Type": "application/json",
              Authorization: `Token ${sample.apiToken}`,
              // Retries after a lost reply must not store the submission twice.
              "Idempotency-Key": `chaos-${seed}-${seq}`,
            },
            body,
            signal: AbortSignal.timeout(15_000),
          });
        } catch (err) {
          count((err as Error).name === "TimeoutError" ? "client timeout" : "connection error");
          await sleep(100 + 300 * random());
          continue;
        } finally {
          posting--;
        }
        let text: string;
        try {
          text = await res.text();
        } catch (err) {
          // The status line arrived, the body did not (a kill mid-reply): not acknowledged.
          count(`${res.status} with its body cut off`);
          events.push(`${elapsed()} s: a ${res.status}'s body was cut off: ${err}`);
          await sleep(100 + 300 * random());
          continue;
        }
        count(String(res.status));
        if (res.status >= 500) {
          await sleep(100 + 300 * random());
          continue;
        }
        if (res.status !== 200) {
          stats.refused.push({ seq, status: res.status, body: text.slice(0, 500) });
          return;
        }
        // deno-lint-ignore no-explicit-any
        let reply: any;
        try {
          reply = JSON.parse(text);
        } catch {
          reply = undefined;
        }
        const values = reply?.payload?.dataValues ?? [];
        const own = reply?.payload?.orgUnit === orgUnit && reply?.payload?.period === period &&
          values.length === codes.length &&
          // deno-lint-ignore no-explicit-any
          values.every((v: any) => v.value === String(seq));
        if (!own || typeof reply.submission_id !== "number") {
          // Not this request's reply: a gateway bug (asserted), but ask again for the truth.
          stats.replyMismatches.push({ seq, reply: `HTTP ${res.status}: ${text.slice(0, 500)}` });
          await sleep(100 + 300 * random());
          continue;
        }
        const keys: string[] = values.map((
          v: { dataElement: string; categoryOptionCombo?: string },
        ) => `${v.dataElement}|${v.categoryOptionCombo ?? "HllvX50cXC0"}|${period}|${orgUnit}`);
        acks.set(seq, { seq, id: reply.submission_id, keys, attempts: attempt + 1 });
        // The group is locked until here: this is the last acknowledged value for these keys.
        for (const k of keys) lastAck.set(k, seq);
        return;
      }
    };
    const client = async () => {
      while (next <= N && !stopClients) {
        const seq = next++;
        let group: number;
        do group = Math.floor(random() * ORG_UNITS.length * PERIODS.length); while (
          locked.has(group)
        );
        locked.add(group);
        try {
          await submitUntilAcked(seq, group);
        } finally {
          locked.delete(group);
        }
      }
    };
    const intake = Promise.all(Array.from({ length: clients }, client)).then(() => {
      intakeSeconds = (performance.now() - t0) / 1000;
    });
    let intakeDone = false;
    intake.then(() => intakeDone = true);

    // --- the chaos --------------------------------------------------------------------------
    const pending = async () => {
      const sql = await db.sql();
      const [row] = await sql`select count(*)::int as n from submissions
        where status in ('queued', 'running', 'retrying')`;
      return row.n as number;
    };
    const killAndRestart = async (phase: string) => {
      // Wait (briefly) for deliveries in flight, so the kill lands in the middle of one. During
      // intake only half a second: batched imports are few, and waiting 3 s per kill let intake
      // finish before its last kills came due (4 kills instead of 5 in a CI run).
      const waits = phase === "intake" ? 10 : 60;
      for (let i = 0; i < waits && proxy.inFlight() === 0; i++) await sleep(50);
      const snapshot = `${acks.size} acknowledged, ${posting} posts and ${proxy.inFlight()} ` +
        `DHIS2 requests in flight`;
      const at = elapsed();
      await gw.kill();
      kills++;
      await sleep(200 + 800 * random());
      const took = await gw.up();
      events.push(
        `${at} s: kill -9 #${kills} (${phase}): ${snapshot}; ready ` +
          `again after ${took.toFixed(1)} s`,
      );
      say(`chaos: ${events.at(-1)}`);
    };
    const intakeKills = o.intakeKills ?? 5;
    const plan = [
      ...Array.from({ length: intakeKills }, (_, i) => ({
        at: (i + 1) / (intakeKills + 2),
        kind: "kill" as const,
      })),
      { at: 0.5, kind: "pg" as const },
    ].sort((a, b) => a.at - b.at);
    for (const step of plan) {
      while (!intakeDone && acks.size < step.at * N && Date.now() < deadline) await sleep(20);
      if (intakeDone || Date.now() >= deadline) break;
      if (step.kind === "kill") await killAndRestart("intake");
      else {
        const snapshot = `${acks.size} acknowledged, ${posting} posts and ${proxy.inFlight()} ` +
          `DHIS2 requests in flight`;
        const at = elapsed();
        const what = await db.crash(o.pgDownS ?? 5);
        events.push(`${at} s: ${what}: ${snapshot}`);
        say(`chaos: ${events.at(-1)}`);
      }
    }
    const intakeLeft = Math.max(0, deadline - Date.now());
    await Promise.race([intake, sleep(intakeLeft)]);
    if (!intakeDone) {
      stopClients = true;
      events.push(`${elapsed()} s: intake did not finish within the budget`);
    }
    say(`chaos: intake done after ${elapsed()} s: ${acks.size} acknowledged`);
    // Intake can end before its last kills came due (it is fast once a restart is over): those
    // kills happen while the queue drains instead, so a run always has all of them.
    const drainKills = (o.drainKills ?? 1) + Math.max(0, intakeKills - kills);
    for (let k = 0; k < drainKills; k++) {
      if (k > 0) await sleep(1000 + 1000 * random());
      // Deliveries are still running while DHIS2 requests are in flight or work is pending.
      for (let i = 0; Date.now() < deadline && proxy.inFlight() === 0; i++) {
        if (i % 25 === 0 && await pending() === 0) break;
        await sleep(20);
      }
      if (await pending() === 0) break;
      await killAndRestart("delivery only");
    }

    // --- drain --------------------------------------------------------------------------------
    let left = await pending();
    while (left > 0 && Date.now() < deadline) {
      await sleep(500);
      left = await pending().catch(() => left);
    }
    const seconds = (performance.now() - t0) / 1000;
    if (left > 0) events.push(`${seconds.toFixed(1)} s: ${left} submissions still pending`);
    say(`chaos: drained after ${seconds.toFixed(1)} s (${left} pending)`);
    // Checked while the gateway still runs: the embedded database stops with it.
    return await verify({
      sql: await db.sql(),
      sim,
      proxy,
      acks,
      lastAck,
      stats,
      submissions: N,
      kills,
      pgRestarts: events.filter((e) => e.includes("PostgreSQL stopped")).length,
      seconds,
      intakeSeconds,
      totalSeconds: (performance.now() - started) / 1000,
      pendingAtEnd: left,
      unexpectedExits: gw.unexpectedExits,
      events: events.sort((a, b) => parseFloat(a) - parseFloat(b)),
      seed,
    });
  } finally {
    await gw.close();
    await db.close();
    await proxy.stop();
    await sim.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}
