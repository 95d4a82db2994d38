/**
 * GET /api/v2/logs builds old JobLog items, which carry the request, the DHIS2 payload and the
 * reply. A page of 500 must cost a fixed number of in-process calls and queries, not one
 * detail read per item (1.1 s for 500 before), and still carry what each item's detail says.
 */
import assert from "node:assert/strict";
import { connect } from "../src/db/db.ts";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const SUBMISSIONS = 520;

dbTest("GET /api/v2/logs reads a page of 500 in a fixed number of calls and queries", async () => {
  const db = await createTestDb("v2_logs_page");
  let queries = 0;
  const counted = connect({ url: db.url, max: 10, onQuery: () => queries++ });
  const t = await createTestApp({ ...db, sql: counted });
  try {
    // Every third submission has an attempt, every fifth a second delivery (a copy) with an
    // attempt of its own, later than its first delivery's: the old item's last_attempt is the
    // last attempt of all.
    await db.sql`
      insert into submissions (user_uid, username, source_name, request_hash, org_unit, period,
        data_set, kind, request, payload, codes, status, finished_at)
      select 'u', 'user', 'default', i::text, 'ou' || i, '202401', 'ds', 'aggregate',
             json_build_object('orgUnit', 'ou' || i, 'dataValues', json_build_object('A', i)),
             json_build_object('dataValues', json_build_array(json_build_object('value', i))),
             '{A}', case when i % 3 = 0 then 'delivered' else 'queued' end,
             case when i % 3 = 0 then now() end
      from generate_series(1, ${SUBMISSIONS}) i`;
    await db.sql`
      insert into deliveries (submission_id, destination, kind, ordering_key, status,
        max_attempts, attempts, response, last_error)
      select id, 'default', 'aggregate', org_unit || '|' || period, status, 9,
             case when id % 3 = 0 then 1 else 0 end,
             case when id % 3 = 0 then json_build_object('status', 'OK', 'n', id) end,
             case when id % 7 = 0 then 'busy ' || id end
      from submissions order by id`;
    await db.sql`
      insert into deliveries (submission_id, destination, kind, ordering_key, status,
        max_attempts, attempts)
      select id, 'copy', 'aggregate', org_unit || '|' || period, 'delivered', 9, 1
      from submissions where id % 5 = 0 order by id`;
    await db.sql`
      insert into delivery_attempts (delivery_id, number, worker, started_at, finished_at,
        duration_ms, outcome, http_status)
      select d.id, 1, 'w', timestamptz '2026-01-01' + make_interval(secs => d.submission_id),
             timestamptz '2026-01-01' + make_interval(secs => d.submission_id)
               + case when d.destination = 'copy' then interval '1 hour' else interval '0' end,
             1, 'delivered', 200
      from deliveries d
      where (d.destination = 'default' and d.submission_id % 3 = 0) or d.destination = 'copy'`;

    const headers = t.users.admin.headers.token;
    let calls = 0;
    const auth = t.deps.auth;
    const authenticate = auth.authenticate.bind(auth);
    // Every in-process /api/v3 call authenticates the caller's header again.
    auth.authenticate = (h, a) => {
      calls++;
      return authenticate(h, a);
    };
    // Once first, so the credential cache and the statements are warm.
    assert.equal((await t.app.request("/api/v2/logs?page_size=1", { headers })).status, 200);
    calls = 0;
    queries = 0;
    const started = performance.now();
    const res = await t.app.request("/api/v2/logs?page_size=500", { headers });
    const ms = performance.now() - started;
    const page = await res.json();
    console.log(`GET /api/v2/logs?page_size=500: ${ms.toFixed(0)} ms, ${queries} queries`);
    assert.equal(res.status, 200, JSON.stringify(page));
    assert.equal(page.items.length, 500);
    assert.equal(page.total, SUBMISSIONS);
    // The /api/v2 route's own authentication, then one /api/v3/logs call: no call per item.
    assert.equal(calls, 2);
    // The page and its total (one snapshot), the items' payloads in one query, and at most a
    // couple of background writes (last-use of the API token) that may land meanwhile.
    assert.ok(queries <= 8, `${queries} queries for one page`);

    // Each item says what its detail says.
    for (const item of page.items.slice(0, 60)) {
      const one = await t.app.request(`/api/v3/logs/${item.id}`, { headers });
      const d = await one.json();
      const last = d.attempts_log.at(-1)?.finished_at;
      assert.deepEqual(item.payload, d.payload);
      assert.deepEqual(item.dhis2_payload, {
        String: JSON.stringify(d.dhis2_payload),
        Valid: true,
      });
      assert.deepEqual(item.response, {
        String: d.response === null ? "" : JSON.stringify(d.response),
        Valid: d.response !== null,
      });
      assert.deepEqual(item.last_attempt, {
        Time: last ?? "0001-01-01T00:00:00Z",
        Valid: last !== undefined,
      });
      assert.deepEqual(item.errors, { String: d.last_error ?? "", Valid: d.last_error !== null });
      assert.equal(item.retry_count, d.retry_count);
    }
  } finally {
    await t.close();
    await counted.end();
    await db.close();
  }
});
