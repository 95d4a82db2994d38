/**
 * PostgreSQL stopped under a steady stream of submissions (issue 10, item 3): an API-only and a
 * worker-only `serve` process on a throwaway cluster of their own (never the shared test
 * cluster), the server stopped with `pg_ctl stop -m fast` for a few seconds and started again.
 *
 * During the outage every reply is 200 or 503 `database_unavailable` with Retry-After, in
 * bounded time; /ready answers 503 within 1 s. Afterwards, without a restart of either
 * process: intake answers 200 again, the worker (woken over a LISTEN that had to reconnect:
 * its poll is far beyond the test) delivers everything accepted, and the request log holds the
 * rows of the requests answered during the outage.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { DB_SCHEMA } from "../src/db/schema.ts";
import { type Cluster, startCluster } from "../scripts/pg_cluster.ts";
import { ADMIN, SAMPLE_SUBMISSION, setUpSample } from "../scripts/sample.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { portFrom, startServe } from "./support/cli.ts";

const PG_BIN = Deno.env.get("DHIS2GW_TEST_PG_BIN");
/** Submissions per second, spread evenly; the issue's 60/s for 10 s: DHIS2GW_OUTAGE=60,10. */
const [RATE, OUTAGE_MS] = (Deno.env.get("DHIS2GW_OUTAGE") ?? "40,4").split(",").map(Number)
  .map((n, i) => i === 1 ? n * 1000 : n);
/** The longest any reply may take during the outage. */
const MAX_REPLY_MS = 5000;
const MAX_READY_MS = 1000;

interface Reply {
  i: number;
  requestId: string;
  phase: "before" | "outage" | "after";
  sentAt: number;
  ms: number;
  status: number | "timeout" | "network";
  code?: string;
  retryAfter?: string | null;
  submissionId?: number;
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test({
  name: PG_BIN
    ? "PostgreSQL stopped under load: 503 + Retry-After fast, /ready 503 < 1 s, full recovery"
    : "PostgreSQL outage (skipped: DHIS2GW_TEST_PG_BIN is not set; run with `deno task test`)",
  ignore: !PG_BIN,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const cluster: Cluster = await startCluster(PG_BIN!);
    const sim = await startSimulator({ port: 0 });
    const env = {
      DHIS2GW_DB: cluster.url,
      DHIS2GW_SERVER_PORT: "0",
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: "admin",
      DHIS2GW_DHIS2_PASSWORD: "district",
      // Only a NOTIFY (over a LISTEN that survived the outage) wakes the worker in time.
      DHIS2GW_REQUEST_PROCESS_INTERVAL: "300",
      // A delivery whose outcome could not be recorded comes back after its lease (2 + 10 s).
      DHIS2GW_DHIS2_TIMEOUT: "2",
      DHIS2GW_LEASE_SECONDS: "5",
      DHIS2GW_RETRY_CRON: "* * * * * *",
    };
    const check = postgres(cluster.url, {
      max: 1,
      onnotice: () => {},
      connection: { search_path: DB_SCHEMA },
    });
    const api = startServe(["serve", "--no-worker"], { env });
    let worker: ReturnType<typeof startServe> | undefined;
    try {
      const port = portFrom(await api.waitFor(/"msg":"listening"/, 60_000));
      worker = startServe(["serve", "--worker-only"], { env });
      const base = `http://127.0.0.1:${port}`;
      const sample = await setUpSample(`${base}/api/v3`);
      await worker.waitFor(/"msg":"worker started"/, 60_000);

      const replies: Reply[] = [];
      let resumedAt = 0;
      const pending = new Set<Promise<void>>();
      let phase: Reply["phase"] = "before";
      let n = 0;
      const post = () => {
        const i = n++;
        const requestId = `outage-${i}`;
        const sentAt = performance.now();
        const r: Reply = { i, requestId, phase, sentAt, ms: 0, status: "network" };
        const p = (async () => {
          try {
            const res = await fetch(`${base}/api/v3/aggregate`, {
              method: "POST",
              headers: {
                "Content-Type": "application/json",
                Authorization: `Token ${sample.apiToken}`,
                "X-Request-Id": requestId,
              },
              body: JSON.stringify({ ...SAMPLE_SUBMISSION, dataValues: { ANC1: i } }),
              signal: AbortSignal.timeout(15_000),
            });
            r.ms = performance.now() - sentAt;
            r.status = res.status;
            r.retryAfter = res.headers.get("retry-after");
            const body = await res.json();
            if (res.status === 200) r.submissionId = body.submission_id;
            else r.code = body.error?.code;
          } catch (err) {
            r.ms = performance.now() - sentAt;
            r.status = (err as Error).name === "TimeoutError" ? "timeout" : "network";
          }
          replies.push(r);
        })();
        pending.add(p);
        p.finally(() => pending.delete(p));
      };
      const ticker = setInterval(post, 1000 / RATE);
      try {
        await new Promise((r) => setTimeout(r, 1000));
        phase = "outage";
        const outageStart = performance.now();
        await cluster.pause("fast");
        const ready: Array<{ ms: number; status: number | string }> = [];
        while (performance.now() - outageStart < OUTAGE_MS) {
          const t0 = performance.now();
          try {
            const res = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(5000) });
            await res.body?.cancel();
            ready.push({ ms: performance.now() - t0, status: res.status });
          } catch (err) {
            ready.push({ ms: performance.now() - t0, status: (err as Error).name });
          }
          await new Promise((r) => setTimeout(r, 250));
        }
        await cluster.resume();
        resumedAt = performance.now();
        phase = "after";
        // Recovered: a submission sent after the restart is accepted.
        await until(
          "a 200 after the restart",
          () =>
            replies.some((r) => r.phase === "after" && r.status === 200 && r.sentAt >= resumedAt),
        ).catch((err) => {
          const after = replies.filter((r) => r.phase === "after");
          throw new Error(
            `${err.message}; replies since: ${
              JSON.stringify(countBy(after.map((r) => `${r.status} ${r.code}`)))
            }; the API's log:\n${api.lines.slice(-10).join("\n")}`,
          );
        });
        const firstOk = Math.min(
          ...replies.filter((r) => r.phase === "after" && r.status === 200 && r.sentAt >= resumedAt)
            .map((r) => r.sentAt + r.ms),
        );
        await new Promise((r) => setTimeout(r, 1000));
        clearInterval(ticker);
        await Promise.all(pending);

        const during = replies.filter((r) => r.phase === "outage");
        const first503 = Math.min(
          ...during.filter((r) => r.status === 503).map((r) => r.sentAt + r.ms - outageStart),
        );
        console.log(
          `outage: ${replies.length} posted, ${during.length} during the outage; ` +
            `statuses ${JSON.stringify(countBy(replies.map((r) => String(r.status))))}; ` +
            `first 503 after ${Math.round(first503)} ms; slowest outage reply ${
              Math.round(Math.max(...during.map((r) => r.ms)))
            } ms; /ready ${ready.map((r) => `${r.status}/${Math.round(r.ms)}ms`).join(" ")}; ` +
            `first 200 ${Math.round(firstOk - resumedAt)} ms after the restart; ` +
            `${api.lines.filter((l) => l.includes("nobody awaited")).length} orphaned rejections`,
        );

        // No 500, no hang: 200 or 503 database_unavailable with Retry-After, in bounded time.
        const bad = replies.filter((r) =>
          !(r.status === 200 ||
            (r.status === 503 && r.code === "database_unavailable" && Number(r.retryAfter) > 0))
        );
        assert.deepEqual(bad, [], "every reply is 200 or 503 database_unavailable + Retry-After");
        const slow = replies.filter((r) => r.ms > MAX_REPLY_MS);
        assert.deepEqual(slow, [], `every reply within ${MAX_REPLY_MS} ms`);
        assert.ok(during.some((r) => r.status === 503), "the outage was seen");
        assert.ok(ready.length >= 2);
        for (const r of ready) {
          assert.equal(r.status, 503, "/ready during the outage");
          assert.ok(r.ms < MAX_READY_MS, `/ready answered in ${Math.round(r.ms)} ms`);
        }
      } finally {
        clearInterval(ticker);
      }

      // Everything accepted is delivered, by the worker that lived through the outage.
      const accepted = replies.filter((r) => r.status === 200);
      const ids = accepted.map((r) => r.submissionId!);
      await until("every accepted submission to be delivered", async () => {
        const [r] = await check`
          select count(*)::int as n from submissions
          where id in ${check(ids)} and status = 'delivered'`;
        return r.n === ids.length;
      }, 40_000).catch(async (err) => {
        const left = await check`
          select d.submission_id, d.status, d.attempts, d.locked_by, d.locked_until, d.run_at,
            d.last_error, d.batch_key
          from deliveries d where d.submission_id in ${check(ids)} and d.status <> 'delivered'`;
        throw new Error(
          `${err.message}; not delivered: ${JSON.stringify(left.slice(0, 5))} (${left.length}); ` +
            `the worker's log:\n${worker!.lines.slice(-15).join("\n")}`,
        );
      });
      console.log(
        `all ${ids.length} accepted delivered ${
          Math.round(performance.now() - resumedAt)
        } ms after the restart`,
      );
      const values = sim.received.filter((r) => r.path === "/api/dataValueSets").flatMap((r) =>
        (r.body as { dataValues: Array<{ value: string }> }).dataValues.map((v) => v.value)
      );
      const posted = new Set(values);
      // Batching sends only the newest value of a key; an older submission it supersedes is
      // delivered with a note naming the newer one instead of being posted.
      const superseded = new Set(
        (await check`select d.submission_id as id from deliveries d
          where d.submission_id in ${check(ids)} and d.last_error like '%superseded by newer%'`)
          .map((r) => Number(r.id)),
      );
      assert.deepEqual(
        accepted.filter((r) => !posted.has(String(r.i)) && !superseded.has(r.submissionId!)),
        [],
      );
      // An outcome that could not be recorded during the outage was recorded after it, within
      // the lease: no submission went to DHIS2 twice.
      assert.equal(values.length, posted.size, "repeated POSTs to DHIS2");
      // And every request answered, during the outage too, is in the request log.
      const answered = replies.map((r) => r.requestId);
      await until("the request log to hold every answered request", async () => {
        const [r] = await check`
          select count(distinct request_id)::int as n from request_log
          where request_id in ${check(answered)}`;
        return r.n === answered.length;
      }, 20_000);
      const ready = await fetch(`${base}/ready`);
      assert.equal(ready.status, 200);
      await ready.body?.cancel();
    } finally {
      await worker?.stop();
      await api.stop();
      await check.end({ timeout: 1 });
      await sim.stop();
      await cluster.stop();
    }
  },
});

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
