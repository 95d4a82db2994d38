import assert from "node:assert/strict";
import { generatePat, type Simulator, type SimulatorOptions, startSimulator } from "./simulator.ts";
import { isValidPatChecksum } from "./simulator_auth.ts";
import { transientImportFailure } from "./simulator_faults.ts";

const BASIC = `Basic ${btoa("admin:district")}`;
type Json = Record<string, unknown>;

async function withSim(fn: (sim: Simulator) => Promise<void>, opts: SimulatorOptions = {}) {
  const sim = await startSimulator(opts);
  try {
    await fn(sim);
  } finally {
    await sim.stop();
  }
}

async function get(sim: Simulator, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${sim.url}${path}`, { headers, redirect: "manual" });
  const text = await res.text();
  let json: Json | null = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, text, json };
}

const unauthorized = (message: string) => ({
  httpStatus: "Unauthorized",
  httpStatusCode: 401,
  status: "ERROR",
  message,
});

Deno.test("auth: Basic is checked pre-emptively; 401 without a challenge; login redirect (§1.1)", async () => {
  await withSim(async (sim) => {
    const ok = await get(sim, "/api/me", { Authorization: BASIC });
    assert.equal(ok.status, 200);
    assert.equal(ok.json?.username, "admin");

    const bad = await get(sim, "/api/me", { Authorization: `Basic ${btoa("admin:wrong")}` });
    assert.equal(bad.status, 401);
    assert.deepEqual(bad.json, unauthorized("Unauthorized"));
    assert.equal(bad.headers.get("www-authenticate"), null);
    assert.equal(bad.headers.get("cache-control"), "no-cache, private");

    const xhr = await get(sim, "/api/me", { "X-Requested-With": "XMLHttpRequest" });
    assert.equal(xhr.status, 401);
    const none = await get(sim, "/api/me");
    assert.equal(none.status, 302);
    assert.equal(none.headers.get("location"), `${sim.url}/dhis-web-login`);
    sim.setVersion("2.40");
    const old = await get(sim, "/api/system/ping");
    assert.equal(old.headers.get("location"), `${sim.url}/dhis-web-commons/security/login.action`);
    assert.equal((await get(sim, "/api/system/ping", { Authorization: BASIC })).text, "pong");
  });
  await withSim(async (sim) => {
    const locked = await get(sim, "/api/me", { Authorization: BASIC });
    assert.deepEqual(locked.json, unauthorized("Account locked"));
  }, { users: [{ username: "admin", password: "district", locked: true }] });
});

Deno.test("auth: PAT replies differ between 2.40 and 2.41+ (§1.2)", async () => {
  const known = generatePat("v2");
  const expired = generatePat("v1");
  const tokens = [{ token: known, username: "admin" }, {
    token: expired,
    username: "admin",
    expired: true,
  }];
  const pat = (t: string) => ({ Authorization: `ApiToken ${t}` });
  const badChecksum = `${known.slice(0, -1)}${known.endsWith("0") ? "1" : "0"}`;
  await withSim(async (sim) => {
    assert.equal((await get(sim, "/api/me", pat(known))).status, 200);
    const malformed = await get(sim, "/api/me", pat("not a token!"));
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json?.message, "Api token is malformed");
    const checksum = await get(sim, "/api/me", pat(badChecksum));
    assert.deepEqual(checksum.json, {
      httpStatus: "Bad Request",
      httpStatusCode: 400,
      status: "ERROR",
      message: "Checksum validation failed",
    });
    const unknown = await get(sim, "/api/me", pat(generatePat("v2")));
    assert.deepEqual(unknown.json, unauthorized("The API token does not exists"));
    assert.equal(unknown.headers.get("www-authenticate"), "ApiToken");
    const old = await get(sim, "/api/me", pat(expired));
    assert.deepEqual(
      old.json,
      unauthorized("Failed to authenticate API token, token has expired."),
    );

    sim.setVersion("2.40");
    assert.equal((await get(sim, "/api/me", pat("not a token!"))).status, 401);
    // No checksum check before 2.41: a bad checksum is just an unknown token.
    const before = await get(sim, "/api/me", pat(badChecksum));
    assert.deepEqual(before.json, unauthorized("The API token does not exists."));
  }, { tokens });
});

Deno.test("PAT checksums match DHIS2's own fixtures (§1.2)", () => {
  // 2.41 test fixtures (NUL-padded CRC32) and the 2.38–2.40 docs example (exact bytes).
  assert.equal(isValidPatChecksum("d2p_iKrAY7sR6rPea1rub181baRzyyui2AW07ymXPRExAgwa051Mei"), true);
  assert.equal(isValidPatChecksum("d2pat_e0b5Y9bXWtUcfEY8BMHHj9aJZkXCQ7O50174669582"), true);
  assert.equal(isValidPatChecksum("d2pat_5xVA12xyUbWNedQxy4ohH77WlxRGVvZZ1151814092"), true);
  assert.equal(isValidPatChecksum("d2p_iKrAY7sR6rPea1rub181baRzyyui2AW07ymXPRExAgwa051Mej"), false);
  assert.equal(isValidPatChecksum("d2pat_5xVA12xyUbWNedQxy4ohH77WlxRGVvZZ1151814093"), false);
  assert.equal(isValidPatChecksum("d2x_iKrAY7sR6rPea1rub181baRzyyui2AW07ymXPRExAgwa051Mei"), false);
  for (let i = 0; i < 50; i++) {
    const v2 = generatePat("v2");
    const v1 = generatePat("v1");
    assert.match(v2, /^d2p_[A-Za-z][A-Za-z0-9]{43}[0-9A-Za-z]{6}$/);
    assert.match(v1, /^d2pat_[A-Za-z0-9x]{32}\d{10}$/);
    assert.ok(isValidPatChecksum(v2) && isValidPatChecksum(v1), `${v2} ${v1}`);
  }
});

Deno.test("POST /api/dataValueSets needs F_DATAVALUE_ADD (403, §1.3) and JSON (415)", async () => {
  const users = [
    { username: "admin", password: "district" },
    { username: "viewer", password: "pw", authorities: ["F_VIEW_DATABROWSER"] },
  ];
  await withSim(async (sim) => {
    const post = (auth: string, type = "application/json") =>
      fetch(`${sim.url}/api/dataValueSets`, {
        method: "POST",
        headers: { Authorization: auth, "Content-Type": type },
        body: "{}",
      }).then(async (r) => ({ status: r.status, json: await r.json() }));
    const viewer = `Basic ${btoa("viewer:pw")}`;
    assert.deepEqual(await post(viewer), {
      status: 403,
      json: {
        httpStatus: "Forbidden",
        httpStatusCode: 403,
        status: "ERROR",
        message: "Access is denied",
      },
    });
    sim.setVersion("2.42");
    assert.equal(
      (await post(viewer)).json.message,
      "Access is denied, requires one Authority from [F_DATAVALUE_ADD]",
    );
    const xml = await post(BASIC, "application/xml");
    assert.equal(xml.status, 415);
    assert.equal(xml.json.message, "Content type 'application/xml' not supported");
  }, { users });
});

Deno.test("faults: repeated status, path matching, custom body, clearFaults", async () => {
  await withSim(async (sim) => {
    sim.injectFaults([
      { path: "/api/dataValueSets", status: 503, times: 2 },
      { path: "/api/me", body: "<html>maintenance</html>" },
    ]);
    const info = await get(sim, "/api/system/info", { Authorization: BASIC });
    assert.equal(info.status, 200, "unmatched path is served normally");
    const post = () =>
      fetch(`${sim.url}/api/dataValueSets`, {
        method: "POST",
        headers: { Authorization: BASIC, "Content-Type": "application/json" },
        body: "{}",
      }).then(async (r) => (await r.body?.cancel(), r.status));
    assert.deepEqual([await post(), await post(), await post()], [503, 503, 200]);
    const me = await get(sim, "/api/me", { Authorization: BASIC });
    assert.deepEqual([me.status, me.text, me.headers.get("content-type")], [
      200,
      "<html>maintenance</html>",
      "text/html",
    ]);
    sim.injectFaults([{ status: 502, times: Infinity }]);
    assert.equal((await get(sim, "/api/me", { Authorization: BASIC })).status, 502);
    assert.equal((await get(sim, "/api/me", { Authorization: BASIC })).status, 502);
    sim.clearFaults();
    assert.equal((await get(sim, "/api/me", { Authorization: BASIC })).status, 200);
  });
});

Deno.test("faults: transientImportFailure, and a body computed from the request", async () => {
  await withSim(async (sim) => {
    const post = async (dataValues: unknown[]) => {
      const res = await fetch(`${sim.url}/api/dataValueSets`, {
        method: "POST",
        headers: { Authorization: BASIC, "Content-Type": "application/json" },
        body: JSON.stringify({ dataValues }),
      });
      return {
        status: res.status,
        cache: res.headers.get("cache-control"),
        json: await res.json(),
      };
    };
    sim.injectFaults([
      transientImportFailure("2.41"),
      transientImportFailure("2.43", { shape: "swallowed" }),
    ]);
    const failed = await post([]);
    assert.deepEqual([failed.status, failed.cache], [409, "no-cache, private"]);
    assert.match(failed.json.response.description, /^The import process failed: ERROR: deadlock/);
    const swallowed = await post([{ value: "1" }, { value: "2" }]);
    assert.equal(swallowed.status, 200);
    assert.deepEqual(swallowed.json.response.importCount, {
      imported: 0,
      updated: 0,
      ignored: 2,
      deleted: 0,
    });
    assert.equal((await post([])).status, 200, "faults used up: the real import answers");
  });
});

Deno.test("faults: delay, reset and timeout", async () => {
  await withSim(async (sim) => {
    sim.injectFaults([{ delayMs: 150 }]);
    const started = performance.now();
    assert.equal((await get(sim, "/api/system/ping", { Authorization: BASIC })).text, "pong");
    assert.ok(performance.now() - started >= 140, "answered only after the delay");

    sim.injectFaults([{ reset: true }]);
    await assert.rejects(async () => {
      const res = await fetch(`${sim.url}/api/me`, { headers: { Authorization: BASIC } });
      await res.text();
    }, TypeError);
    assert.equal((await get(sim, "/api/me", { Authorization: BASIC })).status, 200);

    sim.injectFaults([{ timeout: true }]);
    await assert.rejects(
      fetch(`${sim.url}/api/me`, {
        headers: { Authorization: BASIC },
        signal: AbortSignal.timeout(100),
      }),
      (err: Error) => err.name === "TimeoutError",
    );
  });
});

Deno.test("received records every request without credentials", async () => {
  await withSim(async (sim) => {
    sim.injectFaults([{ status: 500 }]);
    await (await fetch(`${sim.url}/api/dataValueSets?dryRun=true&x=1&x=2`, {
      method: "POST",
      headers: { Authorization: BASIC, "Content-Type": "application/json", "X-Trace": "t1" },
      body: JSON.stringify({ dataValues: [] }),
    })).body?.cancel();
    await get(sim, "/api/me", { Authorization: `ApiToken ${generatePat()}` });
    assert.equal(sim.received.length, 2);
    const [first, second] = sim.received;
    assert.deepEqual(
      [first.method, first.path, first.query, first.authScheme, first.body],
      ["POST", "/api/dataValueSets", { dryRun: "true", x: "1" }, "basic", { dataValues: [] }],
    );
    assert.equal(first.headers["x-trace"], "t1");
    assert.equal(first.headers.authorization, undefined);
    assert.ok(!JSON.stringify(sim.received).includes(btoa("admin:district")));
    assert.deepEqual([second.method, second.authScheme, second.body], ["GET", "apitoken", null]);
  });
});

Deno.test("metadata: fields, filters, paging, single objects, system info and me (§7)", async () => {
  await withSim(async (sim) => {
    const auth = { Authorization: BASIC };
    const q = (s: string) => encodeURIComponent(s);
    const combos = await get(
      sim,
      `/api/categoryOptionCombos?filter=${
        q("categoryCombo.id:eq:ccSex000001")
      }&fields=id,code&paging=false`,
      auth,
    );
    assert.deepEqual(combos.json, {
      categoryOptionCombos: [{ id: "cocMale0001", code: "MALE" }, {
        id: "cocFemale01",
        code: "FEMALE",
      }],
    });
    const units = await get(sim, "/api/organisationUnits?pageSize=3&page=2&fields=id,level", auth);
    assert.deepEqual(units.json, {
      pager: {
        page: 2,
        total: 4,
        pageSize: 3,
        pageCount: 2,
        prevPage: `${sim.url}/api/organisationUnits?pageSize=3&page=1&fields=id%2Clevel`,
      },
      organisationUnits: [{ id: "ouBaomaCHC1", level: 3 }],
    });
    const byCode = await get(
      sim,
      `/api/dataElements?filter=${q("code:in:[ANC1,NOPE]")}&fields=${
        q("id,categoryCombo")
      }&paging=false`,
      auth,
    );
    assert.deepEqual(byCode.json, {
      dataElements: [{ id: "f7n9E0hX8qk", categoryCombo: { id: "bjDvmb4bfuf" } }],
    });
    const defaults = await get(sim, "/api/dataSets?paging=false", auth);
    assert.deepEqual(defaults.json, {
      dataSets: [{ id: "pBOMPrpg1QX", displayName: "Monthly HMIS" }],
    });
    const missing = await get(sim, "/api/dataSets/NoSuchSet01", auth);
    assert.equal(missing.status, 404);
    assert.equal(missing.json?.message, "DataSet with id NoSuchSet01 could not be found.");

    sim.setVersion("2.39");
    const info = await get(sim, "/api/system/info?fields=version,calendar", auth);
    assert.deepEqual(info.json, { version: "2.39.6", calendar: "iso8601" });
    const me = await get(
      sim,
      `/api/me?fields=${q("id,username,organisationUnits[id,path],dataSets")}`,
      auth,
    );
    assert.deepEqual(me.json, {
      id: "simUser0000",
      username: "admin",
      organisationUnits: [{ id: "ImspTQPwCqd", path: "/ImspTQPwCqd" }],
      dataSets: ["pBOMPrpg1QX"],
    });
  });
});
