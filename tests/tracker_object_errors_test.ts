/**
 * An object DHIS2 refuses for several reasons: its entry in /api/v3/logs/{id} `tracker.objects`
 * (and the console, which shows the same list) names the first error DHIS2 reported, the root
 * cause, and lists every one; the conflicts keep them all as before.
 */
import assert from "node:assert/strict";
import { startSimulator } from "../src/simulator/simulator.ts";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { AttemptLog } from "./support/submissions.ts";
import { postTracker, trackerWorker } from "./support/tracker.ts";

dbTest("an object refused for several reasons lists each; the first is its error", async () => {
  const db = await createTestDb("tr_obj_errors");
  const sim = await startSimulator();
  const t = await createTestApp(db);
  const events = new AttemptLog();
  const worker = trackerWorker(db.sql, sim, events);
  try {
    worker.start();
    // An unknown relationship type between two people DHIS2 does not hold: E4006, E4012, E4012.
    const res = await postTracker(t, {
      relationships: [{
        relationshipType: "aaaaaaaaaaa",
        from: { trackedEntity: "bbbbbbbbbbb" },
        to: { trackedEntity: "ccccccccccc" },
      }],
    });
    assert.equal(res.status, 200, await res.clone().text());
    const { submission_id: id, objects: [{ uid }] } = await res.json();
    await events.until((e) => e.some((x) => x.id === id));
    const detail = async (role: "admin" | "viewer") => {
      const r = await t.app.request(`/api/v3/logs/${id}`, { headers: t.users[role].headers.token });
      assert.equal(r.status, 200);
      return (await r.json()).tracker.objects;
    };
    assert.deepEqual(await detail("admin"), [{
      type: "RELATIONSHIP",
      uid,
      path: "$.relationships[0]",
      generated: true,
      result: "refused",
      error_code: "E4006",
      message: "Could not find relationship type: `aaaaaaaaaaa`.",
      errors: [
        { code: "E4006", message: "Could not find relationship type: `aaaaaaaaaaa`." },
        {
          code: "E4012",
          message: "Could not find `trackedEntity`: `bbbbbbbbbbb`, linked to relationship.",
        },
        {
          code: "E4012",
          message: "Could not find `trackedEntity`: `ccccccccccc`, linked to relationship.",
        },
      ],
    }]);
    const [viewer] = await detail("viewer");
    assert.equal(viewer.error_code, "E4006");
    assert.deepEqual(viewer.errors.map((e: { code: string }) => e.code), [
      "E4006",
      "E4012",
      "E4012",
    ]);
    assert.ok(viewer.errors.every((e: { message: string }) => e.message === viewer.message));
  } finally {
    await worker.stop(5000);
    await t.close();
    await sim.stop();
    await db.close();
  }
});
