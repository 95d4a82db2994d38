import assert from "node:assert/strict";
import { OK_2_40, WARNING_2_40 } from "../../tests/fixtures/dhis2_replies.ts";
import { type Simulator, startSimulator } from "./simulator.ts";
import type { Dhis2Version } from "./simulator_web.ts";
import { hasRejectedIndexes } from "./simulator_import_versions.ts";

const BASIC = `Basic ${btoa("admin:district")}`;
const OU = "DiszpKrYNg8";
const ANC = "f7n9E0hX8qk"; // INTEGER_ZERO_OR_POSITIVE, default combo
const MAL = "deMalCases1"; // INTEGER, Sex combo
type Json = Record<string, unknown>;

async function withSim(fn: (sim: Simulator) => Promise<void>, version: Dhis2Version = "2.41") {
  const sim = await startSimulator({ version, now: () => new Date("2024-06-15T10:00:00Z") });
  try {
    await fn(sim);
  } finally {
    await sim.stop();
  }
}

async function post(sim: Simulator, body: unknown, query = "", path = "/api/dataValueSets") {
  const res = await fetch(`${sim.url}${path}${query}`, {
    method: "POST",
    headers: { Authorization: BASIC, "Content-Type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const json = await res.json() as Json;
  return { status: res.status, json, summary: (json.response ?? json) as Json };
}

const value = (dataElement: string, v: unknown, extra: Json = {}) => ({
  dataElement,
  period: "202401",
  orgUnit: OU,
  value: v,
  ...extra,
});

const counts = (imported: number, updated: number, ignored: number, deleted: number) => ({
  imported,
  updated,
  ignored,
  deleted,
});

Deno.test("import: success, unchanged re-send is ignored, a changed value is updated (§3.5)", async () => {
  await withSim(async (sim) => {
    const payload = { dataValues: [value(ANC, "5"), value(ANC, 7, { period: "202402" })] };
    const first = await post(sim, payload);
    assert.equal(first.status, 200);
    assert.deepEqual(
      { ...first.json, response: undefined },
      {
        httpStatus: "OK",
        httpStatusCode: 200,
        status: "OK",
        message: "Import was successful.",
        response: undefined,
      },
    );
    assert.equal(first.summary.status, "SUCCESS");
    assert.equal(first.summary.description, "Import process completed successfully");
    assert.deepEqual(first.summary.importCount, counts(2, 0, 0, 0));
    assert.deepEqual(first.summary.conflicts, []);
    assert.deepEqual(first.summary.rejectedIndexes, []);
    assert.equal(first.summary.dataSetComplete, "false");

    const again = await post(sim, payload);
    assert.deepEqual(again.summary.importCount, counts(0, 0, 2, 0));
    // `2024-02` is the same period as `202402`: same natural key.
    const changed = await post(sim, {
      dataValues: [value(ANC, "5"), value(ANC, "8", { period: "2024-02" })],
    });
    assert.deepEqual(changed.summary.importCount, counts(0, 1, 1, 0));
    assert.deepEqual(
      sim.dataValues().map((v) => [v.period, v.value, v.storedBy]),
      [["202401", "5", "admin"], ["202402", "8", "admin"]],
    );
  });
});

Deno.test("import: conflicts are WARNING/409, merged by code and objects, 0-based indexes (§3.3)", async () => {
  await withSim(async (sim) => {
    const { status, json, summary } = await post(sim, {
      dataValues: [
        value(ANC, "1"),
        value("INVALID_1", "1"),
        value("INVALID_1", "2", { period: "202402" }),
        value(ANC, "1", { orgUnit: "NoSuchOrgUn" }),
        value(ANC, "1", { period: "2024W53" }), // 2021W53 is accepted (misfiled) by 2.38–2.42
      ],
    });
    assert.equal(status, 409);
    assert.equal(json.status, "WARNING");
    assert.equal(json.message, "One more conflicts encountered, please check import summary.");
    assert.equal(summary.status, "WARNING");
    assert.deepEqual(summary.importCount, counts(1, 0, 4, 0));
    assert.deepEqual(summary.rejectedIndexes, [1, 2, 3, 4]);
    assert.deepEqual(summary.conflicts, [
      {
        object: "INVALID_1",
        objects: { dataElement: "INVALID_1" },
        value: "Data element not found or not accessible: `INVALID_1`",
        errorCode: "E7610",
        property: "dataElement",
        indexes: [1, 2],
      },
      {
        object: "NoSuchOrgUn",
        objects: { organisationUnit: "NoSuchOrgUn" },
        value: "Organisation unit not found or not accessible: `NoSuchOrgUn`",
        errorCode: "E7612",
        property: "orgUnit",
        indexes: [3],
      },
      {
        object: "2024W53",
        objects: { period: "2024W53" },
        value: "Period not valid: `2024W53`",
        errorCode: "E7611",
        property: "period",
        indexes: [4],
      },
    ]);
  });
});

Deno.test("import: combos, null values, value types and their 2.38 wording", async () => {
  const payload = {
    dataValues: [
      value(MAL, "3", { categoryOptionCombo: "NoSuchCoc01" }),
      value(MAL, "3", { categoryOptionCombo: "cocMale0001", attributeOptionCombo: "NoSuchAoc01" }),
      value(MAL, null, { categoryOptionCombo: "cocMale0001" }),
      value(MAL, "1.5", { categoryOptionCombo: "cocMale0001" }),
      value("deNetsOk001", "yes"),
      value("deNetsOk001", "t"),
      value("deWeightKg1", "abc"),
      value("deVisitDate", "2024-02-30"),
      value(MAL, "", { categoryOptionCombo: "cocFemale01", comment: "not counted" }),
    ],
  };
  await withSim(async (sim) => {
    const { summary } = await post(sim, payload);
    const brief = (summary.conflicts as Json[]).map((c) => [c.errorCode, c.objects, c.indexes]);
    assert.deepEqual(brief, [
      ["E7613", { categoryOptionCombo: "NoSuchCoc01" }, [0]],
      ["E7615", { categoryOptionCombo: "NoSuchAoc01" }, [1]],
      ["E7618", { dataElement: MAL }, [2]],
      ["E7619", { dataElement: MAL, value: "value_not_integer" }, [3]],
      ["E7619", { dataElement: "deNetsOk001", value: "value_not_bool" }, [4]],
      ["E7619", { dataElement: "deWeightKg1", value: "value_not_numeric" }, [6]],
      ["E7619", { dataElement: "deVisitDate", value: "value_not_valid_date" }, [7]],
    ]);
    assert.equal(
      (summary.conflicts as Json[])[3].value,
      "Value must match value type of data element `deMalCases1`: `Data value is not an integer`",
    );
    assert.equal((summary.conflicts as Json[])[1].property, "attributeOptionCombo");
    // "t" is a boolean; an empty value with a comment is stored as a comment.
    assert.deepEqual(summary.importCount, counts(2, 0, 7, 0));
  });
  await withSim(async (sim) => {
    const { summary } = await post(sim, {
      dataValues: [value(MAL, "1.5", { categoryOptionCombo: "cocMale0001" })],
    });
    assert.equal(
      (summary.conflicts as Json[])[0].value,
      "Value must match data element's `deMalCases1` type constraints: Data value is not an integer",
    );
  }, "2.38");
});

Deno.test("import: data-set level problems abort with ERROR/409 and no indexes (§3.3)", async () => {
  await withSim(async (sim) => {
    const unknownSet = await post(sim, { dataSet: "NoSuchSet01", dataValues: [value(ANC, "1")] });
    assert.equal(unknownSet.status, 409);
    assert.equal(unknownSet.json.status, "ERROR");
    assert.equal(unknownSet.json.message, "An error occurred, please check import summary.");
    assert.equal(unknownSet.summary.description, "Import process was aborted");
    assert.deepEqual(unknownSet.summary.importCount, counts(0, 0, 0, 0));
    assert.deepEqual(unknownSet.summary.conflicts, [{
      object: "NoSuchSet01",
      objects: { dataSet: "NoSuchSet01" },
      value: "Data set not found or not accessible: `NoSuchSet01`",
      errorCode: "E7600",
      property: "dataSet",
    }]);
    const unknownOu = await post(sim, {
      dataSet: "pBOMPrpg1QX",
      orgUnit: "NoSuchOrgUn",
      dataValues: [value(ANC, "1")],
    });
    assert.deepEqual((unknownOu.summary.conflicts as Json[])[0].objects, {
      organisationUnit: "NoSuchOrgUn",
      dataSet: "pBOMPrpg1QX",
    });
    assert.equal((unknownOu.summary.conflicts as Json[])[0].errorCode, "E7603");
    sim.metadata.dataSets[0].writable = false;
    const readOnly = await post(sim, { dataSet: "pBOMPrpg1QX", dataValues: [value(ANC, "1")] });
    assert.equal((readOnly.summary.conflicts as Json[])[0].errorCode, "E7601");
    assert.equal(sim.dataValues().length, 0);
  });
});

Deno.test("import: unreadable bodies fail with ERROR/409; {} succeeds with zero counts (§3.6)", async () => {
  await withSim(async (sim) => {
    const empty = await post(sim, "");
    assert.equal(empty.status, 409);
    assert.equal(
      empty.summary.description,
      "The import process failed: No content to map due to end-of-input",
    );
    const broken = await post(sim, '{"dataValues": [');
    assert.equal(broken.status, 409);
    assert.match(
      String(broken.summary.description),
      /^The import process failed: JSON parse error/,
    );
    const nothing = await post(sim, {});
    assert.equal(nothing.status, 200);
    assert.deepEqual(nothing.summary.importCount, counts(0, 0, 0, 0));
    const badDate = await post(sim, { completeDate: "15/06/2024", dataValues: [] });
    assert.equal(badDate.summary.status, "ERROR");
  });
});

Deno.test("import: strategies, deletes, dryRun and zero values (§3.5)", async () => {
  await withSim(async (sim) => {
    const one = { dataValues: [value(ANC, "4")] };
    const dry = await post(sim, one, "?dryRun=true");
    assert.deepEqual(dry.summary.importCount, counts(1, 0, 0, 0));
    assert.equal((dry.summary.importOptions as Json).dryRun, true);
    assert.equal(sim.dataValues().length, 0);

    const updateNew = await post(sim, one, "?importStrategy=UPDATE");
    assert.deepEqual(updateNew.summary.importCount, counts(0, 0, 1, 0));
    assert.deepEqual(updateNew.summary.rejectedIndexes, [0]);
    assert.equal(updateNew.status, 200); // no conflict → SUCCESS

    await post(sim, one);
    const createExisting = await post(sim, one, "?strategy=NEW"); // legacy name of CREATE
    assert.deepEqual(createExisting.summary.importCount, counts(0, 0, 1, 0));
    assert.deepEqual(createExisting.summary.rejectedIndexes, [0]);

    const flagged = await post(sim, { dataValues: [value(ANC, "4", { deleted: true })] });
    assert.deepEqual(flagged.summary.importCount, counts(0, 0, 0, 1));
    const revived = await post(sim, one);
    assert.deepEqual(revived.summary.importCount, counts(1, 0, 0, 0));
    const deleted = await post(sim, one, "?importStrategy=DELETE");
    assert.deepEqual(deleted.summary.importCount, counts(0, 0, 0, 1));
    assert.equal(sim.dataValues()[0].deleted, true);

    // STOCK_OUT has zeroIsSignificant=false: a new zero is skipped without a count.
    const zero = await post(sim, { dataValues: [value("deStockOut1", "0")] });
    assert.deepEqual(zero.summary.importCount, counts(0, 0, 0, 0));

    const bad = await fetch(`${sim.url}/api/dataValueSets?importStrategy=FOO`, {
      method: "POST",
      headers: { Authorization: BASIC, "Content-Type": "application/json" },
      body: "{}",
    });
    assert.equal(bad.status, 400);
    assert.match(
      String((await bad.json()).message),
      /^Value 'FOO' is not valid for parameter importStrategy/,
    );
  });
});

Deno.test("import: header fields override values; id schemes; completion date", async () => {
  await withSim(async (sim) => {
    const { summary } = await post(sim, {
      dataSet: "pBOMPrpg1QX",
      period: "202403",
      orgUnit: "OU_559",
      completeDate: "2024-07-01", // future: clamped to today
      dataValues: [{ dataElement: "ANC1", value: "3", period: "202401", orgUnit: "elsewhere" }],
    }, "?idScheme=CODE&dataSetIdScheme=UID");
    assert.deepEqual(summary.importCount, counts(1, 0, 0, 0));
    assert.equal(summary.dataSetComplete, "2024-06-15");
    assert.deepEqual((summary.importOptions as Json).idSchemes, {
      idScheme: { type: "CODE" },
      dataSetIdScheme: { type: "UID" },
    });
    assert.deepEqual(
      sim.dataValues().map((v) => [v.dataElement, v.period, v.orgUnit]),
      [[ANC, "202403", OU]],
    );
  });
});

Deno.test("import: FinancialSep only from 2.42; /api/37 bare summary only before 2.42 (§0.3)", async () => {
  for (const [version, sepOk, plain] of [["2.41", false, true], ["2.42", true, false]] as const) {
    await withSim(async (sim) => {
      const sep = await post(sim, { dataValues: [value(ANC, "1", { period: "2024Sep" })] });
      assert.equal(sep.summary.status, sepOk ? "SUCCESS" : "WARNING", version);
      const old = await post(
        sim,
        { dataValues: [value("nope", "1")] },
        "",
        "/api/37/dataValueSets",
      );
      assert.equal(old.status, plain ? 200 : 409, version);
      assert.equal("httpStatusCode" in old.json, !plain, version);
      assert.equal(old.summary.status, "WARNING");
    }, version);
  }
});

Deno.test("import: replies equal the captured 2.40.9 fixtures of §9 (importOptions aside)", async () => {
  await withSim(async (sim) => {
    const ok = await post(sim, { dataValues: [value(ANC, "1")] }, "?dryRun=true");
    const { importOptions: _a, ...okSummary } = ok.summary;
    const { importOptions: _b, ...okFixture } = OK_2_40.response;
    assert.deepEqual({ ...ok.json, response: okSummary }, { ...OK_2_40, response: okFixture });

    const warning = await post(sim, {
      dataValues: [value(ANC, "1"), value("INVALID_1", "1"), value("INVALID_2", "1")],
    });
    const { importOptions: _c, ...warningSummary } = warning.summary;
    assert.equal(warning.status, 409);
    assert.deepEqual({ ...warning.json, response: warningSummary }, WARNING_2_40);
  }, "2.40");
});

Deno.test("import: rejectedIndexes is absent where that version lacks it (2.38.x)", async () => {
  const payload = { dataValues: [value(ANC, "1"), value("INVALID_1", "1")] };
  for (const version of ["2.38", "2.39", "2.40", "2.41", "2.42"] as const) {
    await withSim(async (sim) => {
      const { summary } = await post(sim, payload);
      assert.equal("rejectedIndexes" in summary, version !== "2.38", version);
      assert.deepEqual(
        (summary.conflicts as Array<{ indexes: number[] }>)[0].indexes,
        [1],
        version,
      );
    }, version);
  }
  assert.equal(hasRejectedIndexes("2.39.1"), false);
  assert.equal(hasRejectedIndexes("2.39.2"), true);
  assert.equal(hasRejectedIndexes("2.40.0"), false);
  assert.equal(hasRejectedIndexes("2.40.1"), true);
  assert.equal(hasRejectedIndexes("2.41.0"), true);
  assert.equal(hasRejectedIndexes("2.38.7"), false);
});
