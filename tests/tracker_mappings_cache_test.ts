/**
 * The coded tracker routes read tracker mappings from memory (src/tracker/mapping_cache.ts):
 * a second coded submission costs no tracker_mappings query, and a PUT of tracker mappings in
 * this process is seen by the very next submission.
 */
import assert from "node:assert/strict";
import { connect } from "../src/db/db.ts";
import { createApp } from "../src/http/app.ts";
import { staticMappingLookup } from "../src/mappings/lookup.ts";
import { createTestApp, type TestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const MAPPINGS = [
  { kind: "program", code: "MALARIA_CASE", uid: "eBAyeGv0exc" },
  { kind: "stage", scope: "eBAyeGv0exc", code: "CASE", uid: "Zj7UnCAulEk" },
  { kind: "data_element", scope: "Zj7UnCAulEk", code: "AGE", uid: "qrur9Dvnyt5" },
  { kind: "data_element", scope: "Zj7UnCAulEk", code: "GENDER", uid: "oZg33kd9taw" },
  { kind: "option", scope: "oZg33kd9taw", code: "F", uid: "FEMALE" },
];

const EVENT = {
  program: "MALARIA_CASE",
  programStage: "CASE",
  orgUnit: "OU_559",
  occurredAt: "2024-05-01",
  dataValues: { AGE: 34, GENDER: "F" },
};

const put = (t: TestApp, mappings: unknown[]) =>
  t.app.request("/api/v3/tracker/mappings", {
    method: "PUT",
    headers: { "Content-Type": "application/json", ...t.users.admin.headers.token },
    body: JSON.stringify({ mappings }),
  });

/** A dry run of the coded event: the resolved bundle, nothing stored. */
async function dryRun(t: TestApp) {
  const res = await t.app.request("/api/v3/events?dryRun=true", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...t.users.submitter.headers.token },
    body: JSON.stringify(EVENT),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.payload.events[0] as { program: string; programStage: string };
}

dbTest(
  "coded submissions resolve tracker mappings from memory; a PUT is seen at once",
  async () => {
    const db = await createTestDb("tracker_mappings_cache");
    const statements: string[] = [];
    const counted = connect({ url: db.url, max: 4, onQuery: (s) => statements.push(s) });
    const t = await createTestApp({ ...db, sql: counted });
    t.app = createApp({
      ...t.deps,
      mappings: staticMappingLookup({}, { default: { OU_559: "DiszpKrYNg8" } }),
    });
    const reads = () => statements.filter((s) => /from tracker_mappings/i.test(s)).length;
    try {
      assert.equal((await put(t, MAPPINGS)).status, 200);
      const first = await dryRun(t);
      assert.deepEqual([first.program, first.programStage], ["eBAyeGv0exc", "Zj7UnCAulEk"]);
      statements.length = 0;
      for (let i = 0; i < 3; i++) await dryRun(t);
      // Three submissions of four look-up rounds each (program, stage, data elements, option):
      // no tracker_mappings query at all.
      assert.equal(reads(), 0, statements.join("\n"));

      // Replaced through this process: the next submission already uses the new UIDs.
      const moved = [
        { kind: "program", code: "MALARIA_CASE", uid: "IpHINAT79UW" },
        { kind: "stage", scope: "IpHINAT79UW", code: "CASE", uid: "A03MvHHogjR" },
      ];
      assert.equal((await put(t, moved)).status, 200);
      const after = await t.app.request("/api/v3/events?dryRun=true", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...t.users.submitter.headers.token },
        body: JSON.stringify({ ...EVENT, dataValues: {} }),
      });
      const body = await after.json();
      assert.equal(after.status, 200, JSON.stringify(body));
      assert.deepEqual(
        [body.payload.events[0].program, body.payload.events[0].programStage],
        ["IpHINAT79UW", "A03MvHHogjR"],
      );
    } finally {
      await t.close();
      await counted.end();
      await db.close();
    }
  },
);
