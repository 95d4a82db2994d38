/**
 * `validate=dhis2` against the DHIS2 simulator's metadata: what it finds, how few requests it
 * makes, and a clear 502 when DHIS2 cannot be read. Nothing is stored unless every row passes.
 */
import assert from "node:assert/strict";
import { DEFAULT_PASSWORD, DEFAULT_USERNAME, startSimulator } from "../src/simulator/simulator.ts";
import { createTestApp } from "./support/app.ts";
import { COC_M, csv, DE1, DE2, DS, OU, storedState, upload } from "./support/mappings.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const HEADER = "code,what,name,dataset,dataelement,category_option_combo," +
  "attribute_option_combo,source_orgunit,destination_orgunit";
const DEFAULT_COC = "HllvX50cXC0";
const GOOD = [
  `ANC1,de,ANC,${DS},${DE1},,,,`,
  `MAL_M,de,Malaria male,${DS},${DE2},${COC_M},${DEFAULT_COC},,`,
  `WEIGHT,de,Weight,,deWeightKg1,${DEFAULT_COC},,,`,
  `NG,ou,Ngelehun,,,,,NGELEHUN,${OU}`,
];

function env(url: string): Record<string, string> {
  return {
    DHIS2GW_DHIS2_BASE_URL: url,
    DHIS2GW_DHIS2_USER: DEFAULT_USERNAME,
    DHIS2GW_DHIS2_PASSWORD: DEFAULT_PASSWORD,
  };
}

dbTest(
  "validate=dhis2: unknown data element, COC outside the combo, missing org unit",
  async () => {
    const sim = await startSimulator();
    const db = await createTestDb("map_dhis2");
    const t = await createTestApp(db, { env: env(sim.url) });
    try {
      const before = await storedState(db);
      sim.received.length = 0;
      const bad = [
        ...GOOD,
        `GHOST,de,Unknown element,${DS},deGhost0001,,,,`,
        `ANC1_M,de,ANC male,${DS},${DE1},${COC_M},,,`,
        `NOWHERE,ou,Nowhere,,,,,NOWHERE,ouNowhere01`,
        `OTHER_DS,de,Unknown data set,dsMissing01,${DE1},,,,`,
        `AOC,de,Wrong AOC,${DS},${DE1},,${COC_M},,`,
      ];
      const res = await upload(t, "csv", csv([HEADER, ...bad]), { query: { validate: "dhis2" } });
      const body = await res.json();
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.deepEqual(
        body.error.details.map((p: Record<string, unknown>) =>
          `${p.row} ${p.column} ${p.value}: ${p.message}`
        ),
        [
          "6 dataelement deGhost0001: no such data element in DHIS2",
          `7 category_option_combo ${COC_M}: is not an option combo of data element ${DE1}'s category combo`,
          "8 destination_orgunit ouNowhere01: no such org unit in DHIS2",
          "9 dataset dsMissing01: no such data set in DHIS2",
          `10 attribute_option_combo ${COC_M}: is not an attribute option combo of data set ${DS}`,
        ],
      );
      assert.equal(await storedState(db), before, "nothing stored");
      // One snapshot: each data set once, data elements and org units in one request each.
      const paths = sim.received.map((r) => r.path).sort();
      assert.deepEqual(paths, [
        "/api/dataElements",
        "/api/dataSets/dsMissing01",
        `/api/dataSets/${DS}`,
        "/api/organisationUnits",
      ]);

      const ok = await upload(t, "csv", csv([HEADER, ...GOOD]), { query: { validate: "dhis2" } });
      const report = await ok.json();
      assert.equal(ok.status, 200, JSON.stringify(report));
      assert.equal(report.validatedAgainstDhis2, true);
      assert.equal(report.created, 4);
    } finally {
      await t.close();
      await db.close();
      await sim.stop();
    }
  },
);

dbTest("validate=dhis2: DHIS2 unreachable is a 502 saying so, and nothing is stored", async () => {
  const sim = await startSimulator();
  const url = sim.url;
  await sim.stop(); // a port nobody listens on any more
  const db = await createTestDb("map_dhis2_down");
  const t = await createTestApp(db, { env: env(url) });
  try {
    const before = await storedState(db);
    const res = await upload(t, "csv", csv([HEADER, ...GOOD]), { query: { validate: "dhis2" } });
    const { error } = await res.json();
    assert.equal(res.status, 502);
    assert.equal(error.code, "bad_gateway");
    assert.match(
      error.message,
      new RegExp(
        `^validate=dhis2: could not read metadata from DHIS2 at ${url}/api \\(.+\\); ` +
          "nothing was imported",
      ),
    );
    // With row problems too, those are reported (422) and the outage is one more line.
    const mixed = await upload(t, "csv", csv([HEADER, ...GOOD, "X,de,,,notauid,,,,"]), {
      query: { validate: "dhis2" },
    });
    const details = (await mixed.json()).error.details;
    assert.equal(mixed.status, 422);
    assert.match(details[0].message, /^not checked against DHIS2: validate=dhis2: could not read/);
    assert.equal(await storedState(db), before);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("validate=dhis2 without a configured DHIS2 is a 400 naming the setting", async () => {
  const db = await createTestDb("map_dhis2_none");
  const t = await createTestApp(db);
  try {
    const res = await upload(t, "csv", csv([HEADER, ...GOOD]), { query: { validate: "dhis2" } });
    assert.equal(res.status, 400);
    assert.match(
      (await res.json()).error.message,
      /api\.dhis2_base_url \(DHIS2GW_DHIS2_BASE_URL\)/,
    );
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest(
  "validate=dhis2 checks each instance's rows against its own destination's DHIS2",
  async () => {
    const hmis = await startSimulator();
    // The training instance knows one element the national one does not.
    const training = await startSimulator({
      metadata: {
        dataElements: [{
          id: "deTrainOnl1",
          name: "Training only",
          valueType: "INTEGER",
          zeroIsSignificant: false,
          categoryCombo: "bjDvmb4bfuf",
        }],
      },
    });
    const db = await createTestDb("map_dhis2_dest");
    const fileText = `destinations:
  training:
    base_url: ${training.url}
    user: ${DEFAULT_USERNAME}
    password: ${DEFAULT_PASSWORD}
    instance_name: train
`;
    const t = await createTestApp(db, { env: env(hmis.url), fileText });
    const header = "code,what,name,dataelement,instance_name";
    try {
      hmis.received.length = 0;
      const bad = await upload(
        t,
        "csv",
        csv([
          header,
          `ANC1,de,ANC,${DE1},default`,
          "TRAIN,de,Train,deTrainOnl1,default", // not in the national DHIS2
          "TRAIN,de,Train,deTrainOnl1,train",
          "GHOST,de,Ghost,deGhost0001,train",
          "LOST,de,Lost,deTrainOnl1,nobody",
        ]),
        { query: { validate: "dhis2" } },
      );
      const body = await bad.json();
      assert.equal(bad.status, 422, JSON.stringify(body));
      assert.deepEqual(
        body.error.details.map((p: Record<string, unknown>) =>
          `${p.row} ${p.column} ${p.value}: ${p.message}`
        ),
        [
          '3 dataelement deTrainOnl1: no such data element in DHIS2 (destination "default")',
          '5 dataelement deGhost0001: no such data element in DHIS2 (destination "training")',
          '6 instance_name nobody: no destination uses instance "nobody": its rows cannot be ' +
          "checked against DHIS2 (set instance_name on a destination, or import without " +
          "validate=dhis2)",
        ],
      );
      // Each DHIS2 was asked only about its own instance's rows.
      assert.equal(JSON.stringify(hmis.received).includes("deGhost0001"), false);
      assert.equal(JSON.stringify(training.received).includes("deGhost0001"), true);
      assert.equal(JSON.stringify(training.received).includes(DE1), false);
      const ok = await upload(
        t,
        "csv",
        csv([header, `ANC1,de,ANC,${DE1},default`, "TRAIN,de,Train,deTrainOnl1,train"]),
        { query: { validate: "dhis2" } },
      );
      assert.equal(ok.status, 200, await ok.clone().text());
      assert.equal((await ok.json()).created, 2);
    } finally {
      await t.close();
      await db.close();
      await hmis.stop();
      await training.stop();
    }
  },
);
