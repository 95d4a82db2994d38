/**
 * 16 concurrent callers against a real `serve` process, on the embedded database and on an
 * external PostgreSQL: submissions, log and status reads, logins and mapping imports at once.
 * No reply may be a 5xx, every reply must carry its own request's submission, and every
 * acknowledged submission must be stored once and delivered to DHIS2 once.
 *
 * On the PGlite embedded mode this failed: 5-75 % 500s (`portal "" does not exist`), and a 200
 * that carried another request's submission while its own was never stored.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { DB_SCHEMA } from "../src/db/schema.ts";
import {
  ADMIN,
  MAPPINGS_CSV,
  type Sample,
  SAMPLE_SUBMISSION,
  setUpSample,
} from "../scripts/sample.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { portFrom, startServe } from "./support/cli.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const CALLERS = 16;
const OPS_PER_CALLER = Number(Deno.env.get("DHIS2GW_CONCURRENCY_OPS") ?? 30);
const ANC1_DE = "f7n9E0hX8qk";

interface Acked {
  id: number;
  period: string;
  value: string;
}

/**
 * Logins and mapping imports have designed limits on how many run at once: a 429 that says
 * when to come back is a correct answer to 16 callers, not a failure.
 */
const busy = (res: Response) => res.status === 429 && Number(res.headers.get("Retry-After")) > 0;

/** A monthly period of its own for submission `i`: one data value key per submission. */
const periodOf = (i: number) =>
  `${1990 + Math.floor(i / 12)}${String(i % 12 + 1).padStart(2, "0")}`;

async function hammer(api: string, sample: Sample) {
  const problems: string[] = [];
  const acked: Acked[] = [];
  const statuses = new Map<string, number>();
  let next = 0;
  const count = (what: string, status: number) => {
    const k = `${what} ${status}`;
    statuses.set(k, (statuses.get(k) ?? 0) + 1);
  };
  const caller = async (c: number) => {
    for (let j = 0; j < OPS_PER_CALLER; j++) {
      const op = (c + j) % 8;
      if (op < 4) {
        const i = next++;
        const body = { ...SAMPLE_SUBMISSION, period: periodOf(i), dataValues: { ANC1: i } };
        const headers: Record<string, string> = {
          "Content-Type": "application/json",
          Authorization: `Token ${sample.apiToken}`,
        };
        if (i % 2) headers["Idempotency-Key"] = `conc-${i}`;
        const res = await fetch(`${api}/aggregate`, {
          method: "POST",
          headers,
          body: JSON.stringify(body),
        });
        count("submit", res.status);
        const reply = await res.json();
        if (res.status !== 200) {
          problems.push(`submit ${i}: ${res.status} ${JSON.stringify(reply).slice(0, 200)}`);
          continue;
        }
        const own = reply.payload?.period === periodOf(i) &&
          reply.payload?.dataValues?.length === 1 &&
          reply.payload.dataValues[0].value === String(i);
        if (!own) {
          problems.push(`submit ${i}: a reply for another request: ${JSON.stringify(reply)}`);
        } else acked.push({ id: reply.submission_id, period: periodOf(i), value: String(i) });
      } else if (op === 4 || op === 5) {
        const path = op === 4 ? "/logs?page=1&page_size=20" : "/status";
        const res = await fetch(`${api}${path}`, {
          headers: { Authorization: `Bearer ${sample.adminToken}` },
        });
        count(path, res.status);
        const text = await res.text();
        if (res.status !== 200) problems.push(`GET ${path}: ${res.status} ${text.slice(0, 200)}`);
      } else if (op === 6) {
        const res = await fetch(`${api}/users/getToken`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(ADMIN),
        });
        count("login", res.status);
        const reply = await res.json();
        if (busy(res)) continue;
        if (res.status !== 201 || typeof reply.token !== "string") {
          problems.push(`login: ${res.status} ${JSON.stringify(reply).slice(0, 200)}`);
        }
      } else {
        const form = new FormData();
        form.append("file", new File([MAPPINGS_CSV], "mappings.csv", { type: "text/csv" }));
        const res = await fetch(`${api}/mappings/import/csv`, {
          method: "POST",
          headers: { Authorization: `Bearer ${sample.adminToken}` },
          body: form,
        });
        count("import", res.status);
        const text = await res.text();
        if (busy(res)) continue;
        if (res.status !== 200) problems.push(`import: ${res.status} ${text.slice(0, 200)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CALLERS }, (_, c) => caller(c)));
  return { problems, acked, statuses };
}

/** Runs the whole check against a gateway at `base` whose database `sql` reads. */
async function check(
  label: string,
  base: string,
  sql: postgres.Sql,
  sim: Awaited<ReturnType<typeof startSimulator>>,
) {
  const api = `${base}/api/v3`;
  const sample = await setUpSample(api);
  const t0 = performance.now();
  const { problems, acked, statuses } = await hammer(api, sample);
  console.log(
    `${label}: ${CALLERS} callers, ${CALLERS * OPS_PER_CALLER} requests in ${
      Math.round(performance.now() - t0)
    } ms: ${JSON.stringify(Object.fromEntries(statuses))}`,
  );
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} bad replies`);
  assert.equal(acked.length, CALLERS * OPS_PER_CALLER / 2);

  // Stored once each.
  const ids = acked.map((a) => a.id);
  const rows = await sql<{ id: number; period: string }[]>`
    select id, period from submissions order by id`;
  assert.deepEqual(
    rows.map((r) => `${r.id} ${r.period}`),
    [...acked].sort((a, b) => a.id - b.id).map((a) => `${a.id} ${a.period}`),
    "exactly the acknowledged submissions are stored, each once",
  );
  // Delivered once each.
  const deadline = Date.now() + 120_000;
  while (true) {
    const [r] = await sql`
      select count(*)::int as n from submissions where id = any(${ids}) and status = 'delivered'`;
    if (r.n === ids.length) break;
    if (Date.now() > deadline) throw new Error(`${r.n} of ${ids.length} delivered in time`);
    await new Promise((res) => setTimeout(res, 100));
  }
  const posts = new Map<string, number>();
  for (const req of sim.received) {
    if (req.method !== "POST" || req.path !== "/api/dataValueSets") continue;
    const period = req.body as { period?: string; dataValues?: Array<{ period?: string }> };
    const p = period.period ?? period.dataValues?.[0]?.period ?? "";
    posts.set(p, (posts.get(p) ?? 0) + 1);
  }
  const stored = new Map(
    sim.dataValues().filter((v) => v.dataElement === ANC1_DE).map((v) => [v.period, v.value]),
  );
  for (const a of acked) {
    assert.equal(posts.get(a.period), 1, `period ${a.period} sent to DHIS2 once`);
    assert.equal(stored.get(a.period), a.value, `period ${a.period} holds its value`);
  }
}

const BASE_ENV = {
  DHIS2GW_SERVER_PORT: "0",
  DHIS2GW_HOST: "127.0.0.1",
  DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
  DHIS2GW_DHIS2_USER: "admin",
  DHIS2GW_DHIS2_PASSWORD: "district",
  DHIS2GW_MAX_CONCURRENT: "8",
};

Deno.test({
  name:
    "16 concurrent callers on the embedded database: no 5xx, own replies, stored and delivered once",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "dhis2gw-conc-" });
    // The embedded server's OS user (when the tests run as root) walks through this folder.
    await Deno.chmod(dir, 0o755);
    const sim = await startSimulator();
    const proc = startServe(["serve"], {
      env: { ...BASE_ENV, DHIS2GW_DATA_DIR: `${dir}/data`, DHIS2GW_DHIS2_BASE_URL: sim.url },
    });
    let sql: postgres.Sql | undefined;
    try {
      const port = portFrom(await proc.waitFor(/"msg":"listening"/, 60_000));
      sql = postgres({
        path: `${dir}/data/pg-socket/.s.PGSQL.5432`,
        user: "postgres",
        max: 2,
        connection: { search_path: DB_SCHEMA },
      });
      await check("embedded", `http://127.0.0.1:${port}`, sql, sim);
      await sql.end();
      assert.equal((await proc.stop("SIGTERM")).code, 0, "a clean stop after the load");
    } finally {
      await sql?.end();
      await proc.stop("SIGTERM");
      await sim.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

dbTest(
  "16 concurrent callers on PostgreSQL: no 5xx, own replies, stored and delivered once",
  async () => {
    const db = await createTestDb("concurrency", { migrated: false });
    const sim = await startSimulator();
    const proc = startServe(["serve"], {
      env: { ...BASE_ENV, DHIS2GW_DB: db.url, DHIS2GW_DHIS2_BASE_URL: sim.url },
    });
    try {
      const port = portFrom(await proc.waitFor(/"msg":"listening"/, 60_000));
      await check("external", `http://127.0.0.1:${port}`, db.sql, sim);
      assert.equal((await proc.stop("SIGTERM")).code, 0, "a clean stop after the load");
    } finally {
      await proc.stop("SIGTERM");
      await sim.stop();
      await db.close();
    }
  },
);
