/**
 * The console with two destinations (default copies to training): the submissions filter
 * offers both and narrows the list to one destination's deliveries, each row shows every
 * delivery with its status, and the status page lists both with their queue depths.
 */
import assert from "node:assert/strict";
import { startSimulator } from "../src/simulator/simulator.ts";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { body } from "./support/submissions.ts";

dbTest("console: destination filter, column and status card", async () => {
  const db = await createTestDb("admin_destinations");
  const hmis = await startSimulator();
  const training = await startSimulator();
  let t: Awaited<ReturnType<typeof createTestApp>> | undefined;
  try {
    const fileText = `
api:
  dhis2_base_url: ${hmis.url}
  dhis2_user: admin
  dhis2_password: district
destinations:
  default:
    copies: [training]
  training:
    base_url: ${training.url}
    user: admin
    password: district
    window: "18:00-06:00"
`;
    t = await createTestApp(db, { fileText });
    const app = t.app, users = t.users;
    for (
      const [uid, instance, de] of [["mapHmisAnc1", "default", "f7n9E0hX8qk"], [
        "mapTrnAnc01",
        "training",
        "deWeightKg1",
      ]]
    ) {
      await db.sql`
        insert into dhis2_mappings (uid, code, what, dataelement, instance_name, source_name)
        values (${uid}, 'ANC1', 'de', ${de}, ${instance}, 'default')`;
    }
    const ids: number[] = [];
    for (const v of [1, 2]) {
      const res = await app.request("/api/v3/aggregate", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...users.submitter.headers.token },
        body: JSON.stringify(body({ ANC1: v }, { period: `20240${v}` })),
      });
      assert.equal(res.status, 200, await res.clone().text());
      ids.push((await res.json()).submission_id);
    }
    // The second submission's copy to training is gone: only the first has a delivery there.
    await db.sql`delete from deliveries where submission_id = ${
      ids[1]
    } and destination = 'training'`;
    const get = async (path: string) => {
      const res = await app.request(path, { headers: users.viewer.headers.bearer });
      assert.equal(res.status, 200, path);
      return await res.text();
    };
    const rows = (html: string) => [...html.matchAll(/<tr data-id="(\d+)"/g)].map((m) => +m[1]);

    const page = await (await app.request("/admin/submissions?destination=training")).text();
    assert.match(page, /<select id="f-destination" name="destination">/);
    assert.match(page, /<option value="default" >default<\/option>/);
    assert.match(page, /<option value="training" selected>training<\/option>/);

    const all = await get("/admin/f/submissions/list");
    assert.deepEqual(rows(all).sort(), [...ids].sort());
    assert.match(all, /<th scope="col">Destinations<\/th>/);
    const first = all.slice(all.indexOf(`<tr data-id="${ids[0]}"`));
    const firstRow = first.slice(0, first.indexOf("</tr>"));
    assert.match(
      firstRow,
      /<li class="nowrap" data-destination="default">default <span class="badge s-queued">queued<\/span><\/li><li class="nowrap" data-destination="training">training <span class="badge s-queued">queued<\/span><\/li>/,
    );

    const narrowed = await get("/admin/f/submissions/list?destination=training");
    assert.deepEqual(rows(narrowed), [ids[0]]);
    assert.deepEqual(
      rows(await get("/admin/f/submissions/list?destination=default")).sort(),
      [
        ...ids,
      ].sort(),
    );

    const status = await get("/admin/f/status");
    assert.match(status, /<h2 id="destinations-title">Destinations<\/h2>/);
    const cells = (name: string) => {
      const from = status.slice(status.indexOf(`<tr data-destination="${name}"`));
      const row = from.slice(0, from.indexOf("</tr>"));
      return Object.fromEntries(
        [...row.matchAll(/data-queue="(\w+)">(\d+)</g)].map((m) => [m[1], +m[2]]),
      );
    };
    assert.deepEqual(cells("default"), { queued: 2, running: 0, retrying: 0, held: 0 });
    assert.deepEqual(cells("training"), { queued: 1, running: 0, retrying: 0, held: 0 });
    assert.equal(
      status.match(/data-health="true">reachable<div class="muted">version 2\.41\.3/g)?.length,
      2,
    );
    assert.equal(status.match(/data-breaker="true">no worker here/g)?.length, 2);
    assert.match(
      status,
      /data-window="true"><div>18:00-06:00 (open|closed)<div class="muted">until/,
    );
    assert.match(status, /data-window="true"><span class="muted">always/);
    assert.match(status, /href="\/admin\/submissions\?destination=training"/);
  } finally {
    await t?.close();
    await hmis.stop();
    await training.stop();
    await db.close();
  }
});
