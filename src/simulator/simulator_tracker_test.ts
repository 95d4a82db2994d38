import assert from "node:assert/strict";
import { DEFAULT_PASSWORD, DEFAULT_USERNAME, startSimulator } from "./simulator.ts";

const AUTH = { Authorization: `Basic ${btoa(`${DEFAULT_USERNAME}:${DEFAULT_PASSWORD}`)}` };
const OU = "DiszpKrYNg8";
const PERSON = "nEenWmSyUEp";
const PROGRAM = "IpHINAT79UW";
const BIRTH = "A03MvHHogjR";

async function call(url: string, method = "GET", body?: unknown, auth = AUTH) {
  const res = await fetch(url, {
    method,
    headers: { ...auth, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

const bundle = (te = "teSimTest01") => ({
  trackedEntities: [{
    trackedEntity: te,
    trackedEntityType: PERSON,
    orgUnit: OU,
    enrollments: [{
      enrollment: `en${te.slice(2)}`,
      program: PROGRAM,
      orgUnit: OU,
      enrolledAt: "2024-01-01",
      events: [{
        event: `ev${te.slice(2)}`,
        programStage: BIRTH,
        orgUnit: OU,
        occurredAt: "2024-01-01",
        dataValues: [{ dataElement: "UXz7xuGCEhU", value: "3000" }],
      }],
    }],
  }],
});

Deno.test("sync import: 200 with the ImportReport, then read back by UID; a resend updates", async () => {
  const sim = await startSimulator();
  try {
    const url = `${sim.url}/api/tracker?async=false`;
    const r = await call(url, "POST", bundle());
    assert.equal(r.status, 200);
    assert.equal(r.body.status, "OK");
    assert.deepEqual(r.body.stats, { created: 3, updated: 0, deleted: 0, ignored: 0, total: 3 });
    assert.deepEqual(
      r.body.bundleReport.typeReportMap.EVENT.objectReports,
      [{ trackerType: "EVENT", uid: "evSimTest01", errorReports: [] }],
    );
    const again = await call(url, "POST", bundle());
    assert.deepEqual(again.body.stats, {
      created: 0,
      updated: 3,
      deleted: 0,
      ignored: 0,
      total: 3,
    });
    const ev = await call(`${sim.url}/api/tracker/events/evSimTest01`);
    assert.equal(ev.status, 200);
    assert.equal(ev.body.enrollment, "enSimTest01");
    assert.equal((await call(`${sim.url}/api/tracker/events/evUnknown01`)).status, 404);
    assert.equal((await call(`${sim.url}/api/tracker/trackedEntities/teSimTest01`)).status, 200);
  } finally {
    await sim.stop();
  }
});

Deno.test("validation errors carry dhis2-core's codes; ERROR is a 409 with nothing imported", async () => {
  const sim = await startSimulator({
    users: [{ username: "u", password: "Secret-123", authorities: ["F_TRACKER_IMPORT"] }],
  });
  const auth = { Authorization: `Basic ${btoa("u:Secret-123")}` };
  try {
    sim.tracker.store.events.set("evComplete1", { event: "evComplete1", status: "COMPLETED" });
    const r = await call(`${sim.url}/api/tracker?async=false`, "POST", {
      trackedEntities: [
        { trackedEntity: "teMissing01", orgUnit: OU },
        { trackedEntity: "teBadType01", trackedEntityType: "aaaaaaaaaaa", orgUnit: OU },
      ],
      enrollments: [
        {
          enrollment: "enBadProg01",
          trackedEntity: "teNowhere01",
          program: "bbbbbbbbbbb",
          orgUnit: "ccccccccccc",
          enrolledAt: "2024-01-01",
        },
      ],
      events: [
        { event: "evNoStage01", orgUnit: OU, occurredAt: "2024-01-01" },
        {
          event: "evBadStage1",
          programStage: "ddddddddddd",
          orgUnit: OU,
          occurredAt: "2024-01-01",
        },
        { event: "evNotEnrol1", programStage: BIRTH, orgUnit: OU, occurredAt: "2024-01-01" },
        {
          event: "evBadValue1",
          programStage: BIRTH,
          enrollment: "enNowhere01",
          orgUnit: OU,
          occurredAt: "2024-01-01",
          dataValues: [{ dataElement: "UXz7xuGCEhU", value: "heavy" }],
        },
        { event: "evComplete1", program: "eBAyeGv0exc", orgUnit: OU, occurredAt: "2024-01-01" },
      ],
    }, auth);
    assert.equal(r.status, 409);
    assert.equal(r.body.status, "ERROR");
    assert.equal(r.body.bundleReport, undefined);
    assert.equal(r.body.stats.ignored, 8);
    const codes = r.body.validationReport.errorReports.map((
      e: { uid: string; errorCode: string },
    ) => `${e.uid}:${e.errorCode}`);
    assert.deepEqual(codes, [
      "teMissing01:E1121",
      "teBadType01:E1005",
      "enBadProg01:E1069",
      "enBadProg01:E1070",
      "enBadProg01:E1068",
      "evNoStage01:E1123",
      "evBadStage1:E1013",
      "evNotEnrol1:E1033",
      "evBadValue1:E1081",
      "evBadValue1:E1302",
      "evComplete1:E1083",
    ]);
    assert.equal(
      r.body.validationReport.errorReports[0].message,
      "Missing required trackedEntity property: `trackedEntityType`.",
    );
    assert.equal(sim.tracker.store.trackedEntities.size, 0);
  } finally {
    await sim.stop();
  }
});

Deno.test("async: job added, /report 404 while running, notifications, then the report", async () => {
  const sim = await startSimulator({ trackerJobs: { hold: true } });
  try {
    const r = await call(`${sim.url}/api/tracker`, "POST", bundle());
    assert.equal(r.status, 200);
    assert.equal(r.body.message, "Tracker job added");
    const id = r.body.response.id;
    assert.equal(r.body.response.location, `${sim.url}/api/tracker/jobs/${id}`);
    assert.equal(r.body.response.responseType, undefined); // 2.41 has none
    const running = await call(`${sim.url}/api/tracker/jobs/${id}/report`);
    assert.equal(running.status, 404);
    assert.equal(running.body.message, `Summary for job ${id} does not exist`);
    const notes = await call(`${sim.url}/api/tracker/jobs/${id}`);
    assert.equal(notes.body[0].completed, false);
    assert.equal(sim.tracker.store.events.size, 0);
    sim.tracker.runJobs();
    const done = await call(`${sim.url}/api/tracker/jobs/${id}`);
    assert.equal(done.body[0].completed, true);
    assert.match(done.body[0].message, /^Import complete with status OK, 3 created/);
    const report = await call(`${sim.url}/api/tracker/jobs/${id}/report`);
    assert.equal(report.status, 200);
    assert.equal(report.body.stats.created, 3);
    assert.deepEqual((await call(`${sim.url}/api/tracker/jobs/zzzzzzzzzzz`)).body, []);
  } finally {
    await sim.stop();
  }
});

Deno.test("job reports: evicted after many newer jobs, lost on restart; the data stays", async () => {
  const sim = await startSimulator({ trackerJobs: { hold: true, maxJobReports: 3 } });
  let next;
  try {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push(
        (await call(`${sim.url}/api/tracker`, "POST", bundle(`teEvict000${i}`))).body.response.id,
      );
    }
    sim.tracker.runJobs();
    assert.deepEqual((await call(`${sim.url}/api/tracker/jobs/${ids[0]}`)).body, []);
    assert.equal((await call(`${sim.url}/api/tracker/jobs/${ids[0]}/report`)).status, 404);
    assert.equal((await call(`${sim.url}/api/tracker/jobs/${ids[3]}/report`)).status, 200);
    await sim.stop();
    next = await startSimulator({ port: sim.port, trackerStore: sim.tracker.store });
    assert.deepEqual((await call(`${next.url}/api/tracker/jobs/${ids[3]}`)).body, []);
    assert.equal((await call(`${next.url}/api/tracker/events/evEvict0003`)).status, 200);
  } finally {
    await sim.stop().catch(() => {});
    await next?.stop();
  }
});

Deno.test("report shapes per version: index and bundleReport.status before 2.40/2.41", async () => {
  const sim = await startSimulator({ version: "2.39" });
  try {
    const r = await call(`${sim.url}/api/tracker?async=false`, "POST", bundle());
    assert.equal(r.body.bundleReport.status, "OK");
    assert.equal(r.body.bundleReport.typeReportMap.EVENT.objectReports[0].index, 0);
    const a = await call(`${sim.url}/api/tracker`, "POST", bundle());
    assert.equal(a.body.response.responseType, "TrackerJob");
    const gone = await call(`${sim.url}/api/tracker/jobs/zzzzzzzzzzz/report`);
    assert.equal(gone.body.message, "Object not found for uid: zzzzzzzzzzz");
  } finally {
    await sim.stop();
  }
});
