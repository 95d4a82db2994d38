/**
 * The console in-process: pages are public shells without data, fragments need a token of an
 * admin or viewer, a viewer's fragments carry no write control and the API refuses the writes
 * anyway, and GET /api/v3/status reports the queue.
 */
import assert from "node:assert/strict";
import { createSubmissionsApp, DATA_SET, ORG_UNIT } from "./support/submissions.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

async function seed(t: Awaited<ReturnType<typeof createSubmissionsApp>>, n: number) {
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await t.post({
      orgUnit: ORG_UNIT,
      period: `20260${i + 1}`,
      dataSet: DATA_SET,
      dataValues: { ANC1: i + 1 },
    });
    assert.equal(res.status, 200, await res.clone().text());
    ids.push((await res.json()).submission_id);
  }
  return ids;
}

dbTest("console pages are public shells served with a strict CSP", async () => {
  const db = await createTestDb("admin_pages");
  try {
    const t = await createSubmissionsApp(db);
    const root = await t.app.request("/admin");
    assert.equal(root.status, 302);
    assert.equal(root.headers.get("location"), "/admin/submissions");
    const slash = await t.app.request("/admin/");
    assert.equal(slash.status, 302);
    assert.equal(slash.headers.get("location"), "/admin");
    for (
      const path of [
        "/admin/login",
        "/admin/submissions?status=dead",
        "/admin/submissions/1",
        "/admin/mappings",
        "/admin/users",
        "/admin/users/abc/tokens",
        "/admin/status",
      ]
    ) {
      const res = await t.app.request(path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get("content-type")!, /text\/html/);
      assert.match(res.headers.get("content-security-policy")!, /default-src 'self'/);
      const html = await res.text();
      assert.doesNotMatch(html, /https?:\/\//, `${path}: nothing from another origin`);
      assert.doesNotMatch(html, /data-action/, `${path}: a shell has no write action`);
    }
    const page = await (await t.app.request("/admin/submissions?status=dead&period=202601"))
      .text();
    assert.match(page, /<option value="dead" selected>dead<\/option>/);
    assert.match(
      page,
      /<label for="f-period">Period<\/label><input id="f-period" name="period" type="text" value="202601"/,
    );
    const signedOut = await (await t.app.request("/admin/login?message=signed_out")).text();
    assert.match(signedOut, /You are signed out\./);
    const crafted = await (await t.app.request("/admin/login?message=Call+0700+now")).text();
    assert.doesNotMatch(crafted, /Call 0700/, "only known messages are shown");
    for (
      const [file, type] of [["admin.js", /javascript/], ["admin.css", /css/], [
        "widgets.css",
        /css/,
      ]] as const
    ) {
      const res = await t.app.request(`/admin/static/${file}`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type")!, type);
      assert.doesNotMatch(await res.text(), /https?:\/\/(?!www\.w3\.org)/);
    }
    assert.equal((await t.app.request("/admin/static/..%2Fpages.tsx")).status, 404);
    await t.close();
  } finally {
    await db.close();
  }
});

dbTest(
  "fragments need an admin or viewer; a viewer gets no write control and no write",
  async () => {
    const db = await createTestDb("admin_roles");
    try {
      const t = await createSubmissionsApp(db);
      const [first, second] = await seed(t, 2);
      await db.sql`
        update deliveries set status = 'dead', last_error = 'HTTP 503'
        where submission_id = ${first}`;
      const { admin, viewer, submitter } = t.users;

      assert.equal((await t.app.request("/admin/f/submissions/list")).status, 401);
      // A submitter signs in too (issue 14): its own submissions, no write control at all.
      const asSubmitter = await t.app.request("/admin/f/submissions/list", {
        headers: submitter.headers.bearer,
      });
      assert.equal(asSubmitter.status, 200);
      assert.doesNotMatch(await asSubmitter.text(), /data-action/);
      // A browser replays a cached Basic login cross-site: the console does not take one.
      const basic = await t.app.request("/admin/f/submissions/list", {
        headers: submitter.headers.basic,
      });
      assert.equal(basic.status, 401);

      const asViewer = await t.app.request("/admin/f/submissions/list?status=dead", {
        headers: viewer.headers.bearer,
      });
      assert.equal(asViewer.status, 200);
      const viewerHtml = await asViewer.text();
      assert.match(viewerHtml, new RegExp(`href="/admin/submissions/${first}"`));
      assert.doesNotMatch(viewerHtml, new RegExp(`href="/admin/submissions/${second}"`));
      assert.match(viewerHtml, /data-count="dead"[^>]*>dead <strong>1<\/strong>/);
      assert.match(viewerHtml, /data-count="queued"[^>]*>queued <strong>1<\/strong>/);
      assert.doesNotMatch(viewerHtml, /data-action|name="id"/);
      for (const path of ["/admin/f/submissions/maintenance", "/admin/f/users/new"]) {
        const res = await t.app.request(path, { headers: viewer.headers.bearer });
        assert.equal(await res.text(), "", path);
      }
      const detail = await (await t.app.request(`/admin/f/submissions/${first}`, {
        headers: viewer.headers.bearer,
      })).text();
      assert.match(detail, /HTTP 503/);
      assert.doesNotMatch(detail, /data-action/);

      // The viewer calls the write fragment anyway: the API refuses, nothing changes.
      const forced = await t.app.request(`/admin/f/submissions/${first}/requeue`, {
        method: "POST",
        headers: viewer.headers.bearer,
      });
      assert.equal(forced.status, 403);
      const [still] = await db.sql`select status from submissions where id = ${first}`;
      assert.equal(still.status, "dead");

      const asAdmin = await (await t.app.request("/admin/f/submissions/list", {
        headers: admin.headers.bearer,
      })).text();
      assert.match(asAdmin, new RegExp(`data-action="/admin/f/submissions/${first}/requeue"`));
      assert.match(asAdmin, /name="id" value="\d+"/);
      const requeued = await t.app.request(`/admin/f/submissions/${first}/requeue`, {
        method: "POST",
        headers: admin.headers.bearer,
      });
      assert.equal(requeued.status, 200);
      assert.match(await requeued.text(), /Re-enqueued task .* \(submission \d+\)/);
      const [now] = await db.sql`
        select s.status, d.requeued_by
        from submissions s join deliveries d on d.submission_id = s.id where s.id = ${first}`;
      assert.deepEqual({ ...now }, { status: "queued", requeued_by: admin.username });
      await t.close();
    } finally {
      await db.close();
    }
  },
);

dbTest(
  "GET /api/v3/status: queue depth, oldest waiting, hourly outcomes; the page draws it",
  async () => {
    const db = await createTestDb("admin_status");
    try {
      const t = await createSubmissionsApp(db);
      const ids = await seed(t, 3);
      await db.sql`update deliveries set status = 'delivered' where submission_id = ${ids[1]}`;
      await db.sql`update deliveries set status = 'dead' where submission_id = ${ids[2]}`;
      const { viewer, submitter } = t.users;
      assert.equal(
        (await t.app.request("/api/v3/status", { headers: submitter.headers.token })).status,
        403,
      );
      const res = await t.app.request("/api/v3/status", { headers: viewer.headers.token });
      assert.equal(res.status, 200);
      const s = await res.json();
      assert.deepEqual(s.queue.byStatus, {
        queued: 1,
        running: 0,
        retrying: 0,
        delivered: 1,
        partial: 0,
        rejected: 0,
        dead: 1,
      });
      assert.equal(s.queue.waiting, 1);
      assert.equal(s.queue.oldestWaiting.id, ids[0]);
      assert.equal(s.hourly.length, 1);
      assert.deepEqual(s.hourly[0].counts, { waiting: 1, delivered: 1, dead: 1 });
      assert.equal(s.dhis2.reachable, false);
      assert.equal(s.dhis2.error, "no DHIS2 base URL is configured");
      assert.equal(s.circuitBreakers.known, false);

      const counts = await t.app.request("/api/v3/status/submissions?period=202602", {
        headers: viewer.headers.token,
      });
      assert.equal((await counts.json()).byStatus.delivered, 1);
      const bad = await t.app.request("/api/v3/status/submissions?status=nope", {
        headers: viewer.headers.token,
      });
      assert.equal(bad.status, 422);

      const frag = await t.app.request("/admin/f/status", { headers: viewer.headers.bearer });
      const html = await frag.text();
      assert.equal(frag.status, 200);
      // Three outcomes in one hour: three bars in the hourly chart, three in the phone's daily.
      assert.equal(html.match(/<rect /g)?.length, 6);
      assert.match(html, /Totals: 1 delivered, 0 partial, 0 rejected, 1 dead, 1 waiting/);
      assert.match(html, /data-waiting="true">1</);
      await t.close();
    } finally {
      await db.close();
    }
  },
);
