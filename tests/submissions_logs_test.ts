/**
 * The logs API: filters (each, combined, validated), paging, detail, the submitter's own view,
 * requeue on every path, delete, purge, and the retention pruner.
 */
import assert from "node:assert/strict";
import type { Sql } from "../src/db/db.ts";
import { pruneOnce } from "../src/queue/maintenance.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { createSubmissionsApp, insertOne, type SubmissionsTestApp } from "./support/submissions.ts";

/**
 * 12 submissions: ids in order; 3 per status among queued/delivered/dead/running; spread over
 * 2024-03-01..03 in Africa/Kampala (UTC+3), around midnight so the zone matters; every third
 * by the submitter; org units A/B; periods 202401/202402.
 */
async function seed(sql: Sql, t: SubmissionsTestApp) {
  const statuses = ["queued", "delivered", "dead", "running"];
  // Local times, UTC+3: 2024-03-01 00:30 is 2024-02-29 21:30Z (day 1 in Kampala, day 0 in UTC).
  const instants = [
    "2024-02-29T21:30:00Z",
    "2024-03-01T12:00:00Z",
    "2024-03-01T20:59:00Z", // 23:59 local, still 03-01
    "2024-03-01T21:01:00Z", // 00:01 local on 03-02
  ];
  const ids: number[] = [];
  for (let i = 0; i < 12; i++) {
    const { id } = await insertOne(sql, i, i % 2 ? "202402" : "202401");
    ids.push(id);
    const mine = i % 3 === 0;
    await sql`
      update submissions set
        created_at = ${instants[i % 4]}::timestamptz + make_interval(days => ${Math.floor(i / 4)}),
        org_unit = ${i < 6 ? "ouAAAAAAAAA" : "ouBBBBBBBBB"},
        user_uid = ${mine ? t.users.submitter.uid : "uOther00001"},
        username = ${mine ? t.users.submitter.username : "other"}
      where id = ${id}`;
    // The submission's status follows its delivery's (0008's summary trigger).
    await sql`
      update deliveries set
        status = ${statuses[i % 4]},
        locked_by = ${statuses[i % 4] === "running" ? "w1" : null},
        locked_until = ${statuses[i % 4] === "running" ? new Date(Date.now() + 60_000) : null},
        last_error = ${statuses[i % 4] === "dead" ? `gave up: DHIS2 answered HTTP 50${i}` : null},
        finished_at = ${["delivered", "dead"].includes(statuses[i % 4]) ? new Date() : null}
      where submission_id = ${id}`;
  }
  return ids;
}

async function get(t: SubmissionsTestApp, path: string, as: "admin" | "viewer" | "submitter") {
  const res = await t.app.request(path, { headers: t.users[as].headers.token });
  return { status: res.status, body: await res.json() };
}

async function send(
  t: SubmissionsTestApp,
  method: string,
  path: string,
  body?: unknown,
  as: "admin" | "viewer" | "submitter" = "admin",
) {
  const res = await t.app.request(path, {
    method,
    headers: { ...t.users[as].headers.token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

dbTest("GET /logs filters, pages and confines submitters to their own", async () => {
  const db = await createTestDb("logs_list");
  const t = await createSubmissionsApp(db, { DHIS2GW_TIMEZONE: "Africa/Kampala" });
  try {
    const ids = await seed(db.sql, t);
    const list = async (q: string, as: "admin" | "viewer" | "submitter" = "viewer") => {
      const r = await get(t, `/api/v3/logs${q}`, as);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body;
    };
    const idsOf = (b: { items: Array<{ id: number }> }) => b.items.map((i) => i.id);

    const all = await list("?page_size=5");
    assert.deepEqual(
      { total: all.total, page: all.page, page_size: all.page_size, pages: all.total_pages },
      { total: 12, page: 1, page_size: 5, pages: 3 },
    );
    // Newest first.
    assert.deepEqual(idsOf(all), [ids[11], ids[10], ids[9], ids[8], ids[7]]);
    assert.deepEqual(idsOf(await list("?page_size=5&page=3")), [ids[1], ids[0]]);
    assert.equal(typeof all.items[0].submitted_at, "string");
    assert.equal(all.items[0].payload, undefined, "no payloads in the list");

    const byStatus = async (q: string) => idsOf(await list(q)).sort((a, b) => a - b);
    assert.deepEqual(await byStatus("?status=dead"), [ids[2], ids[6], ids[10]]);
    assert.deepEqual(
      await byStatus("?status=dead,queued"),
      [ids[0], ids[2], ids[4], ids[6], ids[8], ids[10]],
    );
    assert.deepEqual(await byStatus("?status=dead&status=running"), [
      ids[2],
      ids[3],
      ids[6],
      ids[7],
      ids[10],
      ids[11],
    ]);
    // Inclusive days in the server's zone: 03-01 local is rows 0, 1, 2 (row 3 is 00:01 on 03-02).
    assert.deepEqual(await byStatus("?from_date=2024-03-01&to_date=2024-03-01"), [
      ids[0],
      ids[1],
      ids[2],
    ]);
    assert.deepEqual(await byStatus("?submitted_at=2024-03-02"), [ids[3], ids[4], ids[5], ids[6]]);
    assert.deepEqual(await byStatus("?from_date=2024-03-03"), [
      ids[7],
      ids[8],
      ids[9],
      ids[10],
      ids[11],
    ]);
    assert.deepEqual(await byStatus(`?orgUnit=ouBBBBBBBBB&period=202401`), [
      ids[6],
      ids[8],
      ids[10],
    ]);
    assert.deepEqual(await byStatus(`?user=${t.users.submitter.username}`), [
      ids[0],
      ids[3],
      ids[6],
      ids[9],
    ]);
    assert.deepEqual(await byStatus("?q=HTTP 506"), [ids[6]]);
    assert.deepEqual(await byStatus("?q=%25"), [], "LIKE wildcards are literal");
    assert.deepEqual(await byStatus(`?submission_id=${ids[4]}`), [ids[4]]);
    assert.deepEqual(await byStatus(`?dataSet=pBOMPrpg1QX&status=delivered`), [
      ids[1],
      ids[5],
      ids[9],
    ]);

    // A submitter sees only its own, whatever it asks for.
    const mine = await list("", "submitter");
    assert.deepEqual(idsOf(mine).sort((a, b) => a - b), [ids[0], ids[3], ids[6], ids[9]]);
    assert.equal((await list("?user=other", "submitter")).total, 0);
    assert.equal((await get(t, `/api/v3/logs/${ids[1]}`, "submitter")).status, 404);
    assert.equal((await get(t, `/api/v3/logs/${ids[0]}`, "submitter")).status, 200);

    for (
      const [q, field] of [
        ["?status=failed", "status"],
        ["?from_date=2024-02-30", "from_date"],
        ["?from_date=2024-03-02&to_date=2024-03-01", "to_date"],
        ["?submission_id=abc", "submission_id"],
        ["?page_size=0", "page_size"],
        ["?page_size=501", "page_size"],
        ["?page=x", "page"],
        // A misspelt filter is refused, not ignored into "everything".
        ["?org_unit=zzz", "org_unit"],
        ["?error=E7611", "error"],
      ]
    ) {
      const r = await get(t, `/api/v3/logs${q}`, "viewer");
      assert.equal(r.status, 422, q);
      assert.equal(r.body.error.details[0].field, field, q);
    }
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest(
  "GET /logs/:id has the request, DHIS2 payload, response, conflicts and attempts",
  async () => {
    const db = await createTestDb("logs_detail");
    const t = await createSubmissionsApp(db);
    try {
      const res = await t.post(
        '{"orgUnit":"DiszpKrYNg8","period":"202401","dataSet":"pBOMPrpg1QX",' +
          '"dataValues":{"ANC1":1.50,"GHOST":2}}',
      );
      const { submission_id: id, task_id } = await res.json();
      await db.sql`
      insert into delivery_attempts (delivery_id, number, worker, started_at, finished_at,
        duration_ms, outcome, http_status, error)
      select id, 1, 'w1', now(), now(), 12, 'retry', 503, 'busy'
      from deliveries where submission_id = ${id}`;
      const byId = await get(t, `/api/v3/logs/${id}`, "viewer");
      assert.equal(byId.status, 200);
      const d = byId.body;
      assert.equal(d.task_id, task_id);
      // postgres.js parses the jsonb with JSON.parse, so 1.50 reads back as 1.5 here; the
      // DHIS2 payload holds the text that is sent.
      assert.deepEqual(d.payload.dataValues, { ANC1: 1.5, GHOST: 2 });
      assert.equal(d.dhis2_payload.dataValues[0].value, "1.50");
      assert.deepEqual(d.codes, ["ANC1", "GHOST"]);
      assert.equal(d.attempts_log.length, 1);
      assert.equal(d.attempts_log[0].http_status, 503);
      assert.equal(d.attempts_log[0].error, "busy");
      const byTask = await get(t, `/api/v3/logs/${task_id}`, "admin");
      assert.equal(byTask.body.id, id);
      assert.equal((await get(t, "/api/v3/logs/999999", "viewer")).status, 404);
      assert.equal((await get(t, "/api/v3/logs/nonsense", "viewer")).status, 404);
    } finally {
      await t.close();
      await db.close();
    }
  },
);

dbTest("requeue by id, task id (old GET/POST), ids, filter and the old batch body", async () => {
  const db = await createTestDb("logs_requeue");
  const t = await createSubmissionsApp(db);
  try {
    const ids = await seed(db.sql, t);
    const statusOf = async (id: number) =>
      (await db.sql`
        select s.status, d.run_at <= now() as due
        from submissions s join deliveries d on d.submission_id = s.id where s.id = ${id}`)[0];
    const [task2] = await db.sql`select task_id from submissions where id = ${ids[2]}`;

    const one = await send(t, "POST", `/api/v3/logs/${ids[1]}/requeue`);
    assert.equal(one.status, 200);
    assert.equal(one.body.requeued, true);
    assert.deepEqual(await statusOf(ids[1]), { status: "queued", due: true });
    assert.equal((await send(t, "POST", `/api/v3/logs/${ids[3]}/requeue`)).status, 409);
    assert.equal((await send(t, "POST", `/api/v3/logs/999999/requeue`)).status, 404);
    assert.equal(
      (await send(t, "POST", `/api/v3/logs/${ids[5]}/requeue`, undefined, "viewer")).status,
      403,
    );

    const old = await t.app.request(`/api/v3/aggregate/reenqueue/${task2.task_id}`, {
      headers: t.users.admin.headers.token,
    });
    assert.equal(old.status, 200);
    assert.match((await old.json()).message, /^Re-enqueued task /);
    assert.equal((await statusOf(ids[2])).status, "queued");

    const byIds = await send(t, "POST", "/api/v3/logs/requeue", { ids: [ids[5], ids[7], ids[4]] });
    assert.deepEqual(byIds.body, { matched: 3, requeued: 1, running: 1, already_queued: 1 });

    const byFilter = await send(t, "POST", "/api/v3/logs/requeue", {
      filter: { status: ["dead"], orgUnit: "ouBBBBBBBBB" },
    });
    assert.deepEqual(byFilter.body, { matched: 2, requeued: 2, running: 0, already_queued: 0 });
    const byQuery = await send(t, "POST", "/api/v3/logs/requeue?status=delivered");
    assert.equal(byQuery.body.requeued, 1); // ids[9]; 1 and 5 were requeued above
    assert.equal((await send(t, "POST", "/api/v3/logs/requeue", {})).status, 422);
    assert.equal(
      (await send(t, "POST", "/api/v3/logs/requeue", { filter: { status: "x" } })).status,
      422,
    );

    const [t11] = await db.sql`select task_id from submissions where id = ${ids[11]}`;
    const batch = await send(t, "POST", "/api/v3/aggregate/reenqueue/batch", {
      queue: "dead",
      task_ids: [t11.task_id, "not-a-task", "00000000-0000-0000-0000-000000000000"],
    });
    assert.equal(batch.status, 200);
    assert.equal(batch.body.queue, "dead");
    assert.equal(batch.body.reEnqueued, 0);
    assert.equal(batch.body.failed, 3); // running, malformed, unknown
    assert.equal(batch.body.errors.length, 3);
    assert.equal(t.wakes() > 0, true);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("delete refuses a running submission; purge by date and status; pruning", async () => {
  const db = await createTestDb("logs_delete");
  const t = await createSubmissionsApp(db, { DHIS2GW_TIMEZONE: "Africa/Kampala" });
  try {
    const ids = await seed(db.sql, t);
    await db.sql`
      insert into delivery_attempts (delivery_id, number, worker, started_at, finished_at,
        duration_ms, outcome)
      select id, 1, 'w', now(), now(), 1, 'delivered' from deliveries where submission_id = ${
      ids[1]
    }`;
    const del = await send(t, "DELETE", `/api/v3/logs/${ids[1]}`);
    assert.equal(del.status, 200);
    assert.equal((await send(t, "DELETE", `/api/v3/logs/${ids[1]}`)).status, 404);
    assert.equal((await send(t, "DELETE", `/api/v3/logs/${ids[3]}`)).status, 409);
    assert.equal(
      (await send(t, "DELETE", `/api/v3/logs/${ids[2]}`, undefined, "viewer")).status,
      403,
    );
    const [{ n: attempts }] = await db.sql`select count(*)::int as n from delivery_attempts`;
    assert.equal(attempts, 0, "attempts go with their submission");
    const [{ n: deliveries }] = await db
      .sql`select count(*)::int as n from deliveries where submission_id = ${ids[1]}`;
    assert.equal(deliveries, 0, "and so does its delivery");

    assert.equal((await send(t, "DELETE", "/api/v3/logs/purge?date=yesterday")).status, 422);
    assert.equal((await send(t, "DELETE", "/api/v3/logs/purge")).status, 422);
    // Before 03-02 local (03-01T21:00Z): rows 0 (queued) and 2 (dead); by default only finished.
    const p1 = await send(t, "DELETE", "/api/v3/logs/purge?date=2024-03-02");
    assert.deepEqual(p1.body.deleted, 1);
    assert.match(p1.body.message, /^Deleted 1 logs older than 2024-03-01T21:00:00.000Z$/);
    // With a status: queued ones go too; running ones never.
    const p2 = await send(
      t,
      "DELETE",
      "/api/v3/logs/purge?date=2024-03-04T00:00:00Z&status=queued,running",
    );
    assert.equal(p2.body.deleted, 3); // rows 0, 4 and 8; 3, 7 and 11 are running
    const left = await db.sql`select id from submissions order by id`;
    assert.deepEqual(left.map((r) => r.id), [3, 5, 6, 7, 9, 10, 11].map((i) => ids[i]));

    // Retention: finished ones older than 30 days go (all seeded rows are from 2024); a fresh
    // finished one and every running one stay.
    const fresh = await insertOne(db.sql, "fresh");
    await db.sql`update deliveries set status = 'delivered' where submission_id = ${fresh.id}`;
    assert.equal(await pruneOnce(db.sql, 30), 4); // 5, 9 delivered; 6, 10 dead
    const kept = await db.sql`select id from submissions order by id`;
    assert.deepEqual(kept.map((r) => r.id), [ids[3], ids[7], ids[11], fresh.id]);
    assert.equal(await pruneOnce(db.sql, 0), 0, "0 keeps everything");
  } finally {
    await t.close();
    await db.close();
  }
});
