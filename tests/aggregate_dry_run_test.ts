/**
 * POST /api/v3/aggregate?dryRun=true: validated and mapped exactly as a submission, nothing
 * stored; with &dhis2=true DHIS2 (the simulator) is asked with its own dryRun, never with a
 * completion date, and the reply is the outcome dhis2gw would record, in the caller's codes.
 */
import assert from "node:assert/strict";
import { createApp } from "../src/http/app.ts";
import { DEFAULT_PASSWORD, DEFAULT_USERNAME, startSimulator } from "../src/simulator/simulator.ts";
import { body, createSubmissionsApp, MAPPINGS } from "./support/submissions.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest("dryRun=true validates and maps as a submission and stores nothing", async () => {
  const db = await createTestDb("aggregate_dry_run");
  const sim = await startSimulator();
  const t = await createSubmissionsApp(db, {
    DHIS2GW_COMPLETE_DATA_SET: "true",
    DHIS2GW_DHIS2_BASE_URL: sim.url,
    DHIS2GW_DHIS2_USER: DEFAULT_USERNAME,
    DHIS2GW_DHIS2_PASSWORD: DEFAULT_PASSWORD,
  });
  // The route's own client (aggregate/dry_run.ts), from the configuration.
  const app = createApp({ ...t.deps, mappings: MAPPINGS, wakeWorker: () => {} });
  const post = (q: string, b: unknown) =>
    app.request(`/api/v3/aggregate${q}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...t.users.submitter.headers.token },
      body: JSON.stringify(b),
    });
  const stored = async () =>
    (await db.sql`select (select count(*) from submissions)::int as s,
      (select count(*) from deliveries)::int as d`)[0];
  try {
    // Valid: the payload exactly as a real submission's, nothing stored, nothing sent.
    const real = await (await post("", body({ ANC1: 12, MAL_M: 3 }))).json();
    await db.sql`delete from submissions`;
    const res = await post("?dryRun=true", body({ ANC1: 12, MAL_M: 3 }));
    const dry = await res.json();
    assert.equal(res.status, 200, JSON.stringify(dry));
    assert.equal(dry.dry_run, true);
    assert.equal(dry.message, "Dry run: the submission is valid; nothing was stored");
    assert.deepEqual(dry.payload, real.payload);
    assert.equal(dry.submission_id, undefined);
    assert.equal(dry.dhis2, undefined);
    assert.deepEqual(await stored(), { s: 0, d: 0 });
    assert.equal(sim.received.length, 0);

    // Invalid: the same 422 a submission gets.
    const bad = body({ ANC1: "", NOPE: 1 }, { period: "2024-13" });
    const realBad = await post("", bad);
    const dryBad = await post("?dryRun=true&dhis2=true", bad);
    assert.equal(dryBad.status, 422);
    const [a, b] = [(await realBad.json()).error, (await dryBad.json()).error];
    assert.deepEqual({ ...b, requestId: "" }, { ...a, requestId: "" });

    // Asked of DHIS2: one value refused (GHOST is mapped to an element DHIS2 does not know).
    const asked = await post("?dryRun=true&dhis2=true", body({ ANC1: 12, GHOST: 4 }));
    const reply = await asked.json();
    assert.equal(asked.status, 200, JSON.stringify(reply));
    assert.equal(reply.dhis2.status, "partial", JSON.stringify(reply.dhis2));
    assert.equal(reply.dhis2.httpStatus, 409); // 2.41 onwards: a conflict makes it a 409
    assert.deepEqual(reply.dhis2.counts, { imported: 1, updated: 0, ignored: 1, deleted: 0 });
    assert.deepEqual(reply.dhis2.conflicts.map((c: { codes: string[] }) => c.codes), [["GHOST"]]);
    assert.match(reply.dhis2.error, /DHIS2 refused 1 of 2 value\(s\) \(codes GHOST\)/);
    assert.equal(reply.dhis2.completeDateOmitted, true);
    // The payload shown still completes the data set; what DHIS2 got did not, and was a dry run.
    assert.ok(reply.payload.completeDate);
    const sent = sim.received.filter((r) => r.path.endsWith("/dataValueSets"));
    assert.equal(sent.length, 1);
    assert.equal(sent[0].query.dryRun, "true");
    assert.equal((sent[0].body as Record<string, unknown>).completeDate, undefined);
    assert.deepEqual(sim.dataValues(), []);
    assert.deepEqual(await stored(), { s: 0, d: 0 });

    // All accepted: what a delivery would record.
    const ok = await (await post("?dryRun=true&dhis2=true", body({ ANC1: 12 }))).json();
    assert.deepEqual(
      { status: ok.dhis2.status, error: ok.dhis2.error, conflicts: ok.dhis2.conflicts },
      { status: "delivered", error: null, conflicts: null },
    );
    assert.deepEqual(sim.dataValues(), []);

    // dhis2=true alone, or a flag that is not true/false, is a clear 422.
    const alone = await post("?dhis2=true", body());
    assert.equal(alone.status, 422);
    assert.match((await alone.json()).error.message, /dhis2=true needs dryRun=true/);
    const odd = await post("?dryRun=yes", body());
    assert.equal(odd.status, 422);
    assert.deepEqual(await stored(), { s: 0, d: 0 });
  } finally {
    await t.close();
    await sim.stop();
    await db.close();
  }
});
