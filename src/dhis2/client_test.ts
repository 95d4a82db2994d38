import assert from "node:assert/strict";
import {
  createDhis2Client,
  type Dhis2Auth,
  type Dhis2ClientOptions,
  type Dhis2Result,
  normaliseApiUrl,
  RAW_BODY_LIMIT,
} from "./client.ts";
import { decideOutcome, mapConflictsToCodes } from "./outcome.ts";
import {
  generatePat,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from "../simulator/simulator.ts";
import { SIMULATED_VERSIONS } from "../simulator/simulator_web.ts";

const PASSWORD = "district";
const OU = "DiszpKrYNg8";

async function withSim(fn: (sim: Simulator) => Promise<void>, opts: SimulatorOptions = {}) {
  const sim = await startSimulator(opts);
  try {
    await fn(sim);
  } finally {
    await sim.stop();
  }
}

function client(sim: Simulator | string, extra: Partial<Dhis2ClientOptions> = {}) {
  return createDhis2Client({
    baseUrl: typeof sim === "string" ? sim : sim.url,
    auth: { method: "basic", username: "admin", password: PASSWORD },
    connectTimeoutMs: 2000,
    timeoutMs: 5000,
    ...extra,
  });
}

function response(result: Dhis2Result) {
  assert.equal(result.kind, "response", JSON.stringify(result));
  return result as Extract<Dhis2Result, { kind: "response" }>;
}

function transportError(result: Dhis2Result) {
  assert.equal(result.kind, "transport_error", JSON.stringify(result));
  return result as Extract<Dhis2Result, { kind: "transport_error" }>;
}

Deno.test("normaliseApiUrl accepts the root with or without /api and never doubles it", () => {
  const cases: Array<[string, string]> = [
    ["https://dhis.example.org", "https://dhis.example.org/api"],
    ["https://dhis.example.org/", "https://dhis.example.org/api"],
    ["https://dhis.example.org/api", "https://dhis.example.org/api"],
    ["https://dhis.example.org/api/", "https://dhis.example.org/api"],
    ["https://dhis.example.org/dhis/", "https://dhis.example.org/dhis/api"],
    ["https://dhis.example.org/dhis/api//", "https://dhis.example.org/dhis/api"],
    ["http://127.0.0.1:8089", "http://127.0.0.1:8089/api"],
  ];
  for (const [input, expected] of cases) assert.equal(normaliseApiUrl(input), expected, input);
  assert.throws(() => normaliseApiUrl("ftp://x"), /http or https/);
  assert.throws(() => normaliseApiUrl("not a url"), /not a valid URL/);
  assert.throws(
    () => normaliseApiUrl("https://u:s3cret@x"),
    (e: Error) => !e.message.includes("s3cret"),
  );
});

Deno.test("credentials go out pre-emptively: Basic and ApiToken (§1.1, §1.2)", async () => {
  const token = generatePat("v2");
  await withSim(async (sim) => {
    const basic = await client(`${sim.url}/api/`).getMe();
    assert.equal(basic.ok && basic.value.username, "admin");
    const pat = await client(sim, { auth: { method: "pat", token } }).getSystemInfo();
    assert.equal(pat.ok && pat.value.version, "2.41.3");
    assert.deepEqual(sim.received.map((r) => [r.path, r.authScheme]), [
      ["/api/me", "basic"],
      ["/api/system/info", "apitoken"],
    ]);
  }, { tokens: [{ token, username: "admin" }] });

  const seen: string[] = [];
  const spy: typeof fetch = (_input, init) => {
    seen.push(new Headers(init?.headers).get("authorization") ?? "");
    return Promise.resolve(new Response("{}", { status: 200 }));
  };
  await client("http://dhis.invalid", { fetch: spy }).getSystemInfo();
  await client("http://dhis.invalid", { fetch: spy, auth: { method: "pat", token: "d2p_x" } })
    .getSystemInfo();
  assert.deepEqual(seen, [`Basic ${btoa(`admin:${PASSWORD}`)}`, "ApiToken d2p_x"]);
});

Deno.test("postDataValueSets: delivered, then partial with conflicts mapped to source codes", async () => {
  await withSim(async (sim) => {
    const dhis2 = client(sim, {
      importOptions: { importStrategy: "CREATE_AND_UPDATE", dryRun: false },
    });
    const payload = {
      dataSet: "pBOMPrpg1QX",
      period: "202401",
      orgUnit: OU,
      dataValues: [
        { dataElement: "f7n9E0hX8qk", value: "12" },
        { dataElement: "deMalCases1", categoryOptionCombo: "cocMale0001", value: "3" },
      ],
    };
    const first = response(await dhis2.postDataValueSets(payload));
    assert.equal(first.httpStatus, 200);
    assert.deepEqual(decideOutcome(first, payload), {
      kind: "delivered",
      httpStatus: 200,
      dhis2Status: "SUCCESS",
      counts: { imported: 2, updated: 0, ignored: 0, deleted: 0 },
    });
    assert.deepEqual(sim.received[0].query, {
      dryRun: "false",
      importStrategy: "CREATE_AND_UPDATE",
    });
    assert.equal(sim.received[0].headers["content-type"], "application/json");

    const second = {
      ...payload,
      dataValues: [
        { dataElement: "f7n9E0hX8qk", value: "13" },
        { dataElement: "deMalCases1", categoryOptionCombo: "cocMale0001", value: "three" },
        { dataElement: "deMalCases1", categoryOptionCombo: "NoSuchCoc01", value: "4" },
      ],
    };
    const result = response(await dhis2.postDataValueSets(second));
    assert.equal(result.httpStatus, 409);
    const outcome = decideOutcome(result, second);
    assert.equal(outcome.kind, "partial");
    assert.deepEqual(outcome.kind === "partial" && outcome.counts, {
      imported: 0,
      updated: 1,
      ignored: 2,
      deleted: 0,
    });
    const conflicts = outcome.kind === "partial" ? outcome.conflicts : [];
    const mapped = mapConflictsToCodes(conflicts, second.dataValues, ["ANC1", "MAL_M", "MAL_X"]);
    assert.deepEqual(mapped.map((c) => [c.errorCode, c.codes]), [["E7619", ["MAL_M"]], [
      "E7613",
      ["MAL_X"],
    ]]);
  });
});

Deno.test("every simulated version: WARNING (409, 200 on 2.43) the outcome reads as partial", async () => {
  for (const version of SIMULATED_VERSIONS) {
    await withSim(async (sim) => {
      const payload = {
        dataValues: [
          { dataElement: "f7n9E0hX8qk", period: "202401", orgUnit: OU, value: "1" },
          { dataElement: "INVALID_1", period: "202401", orgUnit: OU, value: "1" },
        ],
      };
      const result = response(await client(sim).postDataValueSets(payload));
      const outcome = decideOutcome(result, payload);
      // 2.43 answers WARNING with 200 (§12).
      assert.deepEqual([result.httpStatus, outcome.kind, outcome.dhis2Status], [
        version === "2.43" ? 200 : 409,
        "partial",
        "WARNING",
      ], version);
    }, { version });
  }
});

Deno.test("transport errors: refused, reset, timeout – never thrown, never with secrets", async () => {
  const token = "d2p_SuperSecretTokenValue";
  let stoppedUrl = "";
  await withSim((sim) => {
    stoppedUrl = sim.url;
    return Promise.resolve();
  });
  const refused = transportError(
    await client(stoppedUrl, { auth: { method: "pat", token } }).postDataValueSets({
      dataValues: [],
    }),
  );
  assert.equal(refused.timedOut, false);
  assert.match(refused.error, /^POST \/dataValueSets failed: /);
  assert.ok(!refused.error.includes(token));

  await withSim(async (sim) => {
    sim.injectFaults([{ reset: true }]);
    const reset = transportError(await client(sim).postDataValueSets({ dataValues: [] }));
    assert.equal(reset.timedOut, false);
    assert.deepEqual(decideOutcome(reset), { kind: "retry", reason: reset.error });

    sim.injectFaults([{ timeout: true }]);
    const slow = transportError(
      await client(sim, { timeoutMs: 200 }).postDataValueSets({ dataValues: [] }),
    );
    assert.equal(slow.timedOut, true);
    assert.equal(slow.error, "POST /dataValueSets timed out after 200 ms");
    assert.ok(slow.durationMs >= 190 && slow.durationMs < 2000, String(slow.durationMs));
  });

  // A fetch whose error text echoes credentials (a proxy library might) is redacted.
  const leaky: typeof fetch = (_input, init) =>
    Promise.reject(new TypeError(`failed with ${new Headers(init?.headers).get("authorization")}`));
  const basic = transportError(
    await client("http://x.invalid", { fetch: leaky }).postDataValueSets({ dataValues: [] }),
  );
  assert.equal(basic.error, "POST /dataValueSets failed: failed with Basic [redacted]");
  const pat = await client("http://x.invalid", { fetch: leaky, auth: { method: "pat", token } })
    .getMe();
  assert.deepEqual(pat.ok ? "ok" : pat.error, "GET /me failed: failed with ApiToken [redacted]");
});

Deno.test("HTTP statuses come back as responses: 401, 503, login redirect, big bodies", async () => {
  await withSim(async (sim) => {
    const wrong = client(sim, {
      auth: { method: "basic", username: "admin", password: "nope-pass" },
    });
    const denied = response(await wrong.postDataValueSets({ dataValues: [] }));
    assert.equal(denied.httpStatus, 401);
    assert.deepEqual(denied.body, {
      httpStatus: "Unauthorized",
      httpStatusCode: 401,
      status: "ERROR",
      message: "Unauthorized",
    });
    assert.ok(!JSON.stringify(denied).includes("nope-pass"));

    sim.injectFaults([
      { status: 503, body: "<html>Service Unavailable</html>" },
      { status: 302, headers: { Location: `${sim.url}/dhis-web-login` } },
      { body: { padding: "x".repeat(RAW_BODY_LIMIT + 10) } },
    ]);
    const unavailable = response(await client(sim).postDataValueSets({ dataValues: [] }));
    assert.deepEqual(
      [unavailable.httpStatus, unavailable.body, unavailable.rawBody],
      [503, null, "<html>Service Unavailable</html>"],
    );
    const redirected = response(await client(sim).postDataValueSets({ dataValues: [] }));
    assert.equal(redirected.location, `${sim.url}/dhis-web-login`);
    assert.equal(decideOutcome(redirected).kind, "retry");
    const big = response(await client(sim).postDataValueSets({ dataValues: [] }));
    assert.equal(big.rawBody.length, RAW_BODY_LIMIT);
    assert.equal((big.body as { padding: string }).padding.length, RAW_BODY_LIMIT + 10);
  });
});

Deno.test("reads: connectTimeoutMs bounds the wait for headers, but not the import POST", async () => {
  await withSim(async (sim) => {
    const dhis2 = client(sim, { connectTimeoutMs: 100, timeoutMs: 3000 });
    sim.injectFaults([{ delayMs: 400 }, { delayMs: 400 }]);
    const info = await dhis2.getSystemInfo();
    assert.deepEqual(info.ok ? "ok" : [info.timedOut, info.error], [
      true,
      "GET /system/info timed out after 100 ms",
    ]);
    const posted = response(await dhis2.postDataValueSets({ dataValues: [] }));
    assert.equal(posted.httpStatus, 200);
  });
});

Deno.test("metadata reads: data set, elements by id/code in chunks, org units, combos", async () => {
  await withSim(async (sim) => {
    const dhis2 = client(sim);
    const ds = await dhis2.getDataSet("pBOMPrpg1QX");
    assert.ok(ds.ok && ds.value);
    const set = ds.value!;
    assert.equal(set.periodType, "Monthly");
    assert.deepEqual(set.categoryCombo, {
      id: "bjDvmb4bfuf",
      categoryOptionCombos: [{ id: "HllvX50cXC0", code: "default", name: "default" }],
    });
    const mal = set.dataSetElements?.find((e) => e.dataElement.id === "deMalCases1");
    assert.deepEqual(mal?.dataElement.categoryCombo?.categoryOptionCombos?.map((c) => c.code), [
      "MALE",
      "FEMALE",
    ]);
    assert.deepEqual(set.organisationUnits, [{ id: OU, code: "OU_559" }, {
      id: "ouBaomaCHC1",
      code: "OU_BAOMA",
    }]);
    assert.deepEqual(await dhis2.getDataSet("NoSuchSet01").then((r) => r.ok && r.value), null);

    sim.received.length = 0;
    const ids = [
      "f7n9E0hX8qk",
      ...Array.from({ length: 149 }, (_, i) => `zz${String(i).padStart(9, "0")}`),
      "deMalCases1",
    ];
    const elements = await dhis2.getDataElements(ids);
    assert.ok(elements.ok);
    assert.deepEqual(elements.value.map((e) => [e.id, e.valueType, e.categoryCombo?.id]), [
      ["f7n9E0hX8qk", "INTEGER_ZERO_OR_POSITIVE", "bjDvmb4bfuf"],
      ["deMalCases1", "INTEGER", "ccSex000001"],
    ]);
    assert.equal(sim.received.length, 2, "151 ids go out as two filter chunks");
    assert.equal(sim.received[0].query.paging, "false");

    const byCode = await dhis2.getDataElements(["ANC1"], "code");
    assert.deepEqual(byCode.ok && byCode.value.map((e) => e.id), ["f7n9E0hX8qk"]);
    const units = await dhis2.getOrganisationUnits(["OU_559", "OU_NOPE"], "code");
    assert.deepEqual(units.ok && units.value, [{
      id: OU,
      code: "OU_559",
      name: "Ngelehun CHC",
      path: "/ImspTQPwCqd/O6uvpzGd5pu/DiszpKrYNg8",
      level: 3,
    }]);
    const cocs = await dhis2.getCategoryOptionCombos("ccFunding01");
    assert.deepEqual(cocs.ok && cocs.value.map((c) => c.code), ["DONOR_A", "DONOR_B"]);
    const me = await dhis2.getMe();
    assert.deepEqual(me.ok && [me.value.authorities, me.value.dataSets], [["ALL"], [
      "pBOMPrpg1QX",
    ]]);

    sim.injectFaults([{ status: 500, body: { httpStatusCode: 500, message: "boom" } }]);
    const failed = await dhis2.getSystemInfo();
    assert.deepEqual(failed, {
      ok: false,
      error: "DHIS2 answered HTTP 500: boom",
      httpStatus: 500,
      timedOut: false,
      durationMs: failed.durationMs,
    });
  });
});

Deno.test("a request refused with credentials a reload replaced meanwhile goes again at once with the new ones", async () => {
  const old = generatePat();
  const rotated = generatePat();
  await withSim(async (sim) => {
    let auth: Dhis2Auth = { method: "pat", token: old };
    // The operator's rotation, while the import is on its way: the gateway takes the new PAT,
    // DHIS2 revokes the old one before it reads the request.
    const rotating: typeof fetch = async (input, init) => {
      if (new Headers(init?.headers).get("authorization") === `ApiToken ${old}`) {
        auth = { method: "pat", token: rotated };
        sim.tokens.splice(sim.tokens.findIndex((t) => t.token === old), 1);
      }
      return await fetch(input, init);
    };
    const c = client(sim, { auth: () => auth, fetch: rotating });
    const sent = response(await c.postDataValueSets({ dataValues: [] }));
    assert.equal(sent.httpStatus, 200);
    assert.deepEqual(sim.received.map((r) => r.authScheme), ["apitoken", "apitoken"]);
    // Refused with the credentials still in force: answered as it is, not sent again.
    sim.tokens.length = 0;
    const refused = response(await c.postDataValueSets({ dataValues: [] }));
    assert.equal(refused.httpStatus, 401);
    assert.equal(sim.received.length, 3);
  }, { tokens: [{ token: old, username: "admin" }, { token: rotated, username: "admin" }] });
});

Deno.test("the request sent again after a rotation gets only what is left of the one timeout", async () => {
  let auth: Dhis2Auth = { method: "pat", token: "d2p_old" };
  const calls: string[] = [];
  // DHIS2 (or a proxy) takes 1.5 s to refuse the old PAT, then hangs on the new one.
  const slow: typeof fetch = (_input, init) => {
    calls.push(new Headers(init?.headers).get("authorization") ?? "");
    if (calls.length === 1) {
      auth = { method: "pat", token: "d2p_new" };
      return new Promise((resolve) =>
        setTimeout(() => resolve(new Response("{}", { status: 401 })), 1500)
      );
    }
    return new Promise((_, reject) =>
      init?.signal?.addEventListener("abort", () => reject(new Error("aborted")))
    );
  };
  const c = client("http://dhis.invalid", { auth: () => auth, fetch: slow, timeoutMs: 2000 });
  const result = transportError(await c.postDataValueSets({ dataValues: [] }));
  assert.deepEqual(calls, ["ApiToken d2p_old", "ApiToken d2p_new"]);
  assert.ok(result.timedOut);
  // About 2 s in all: the delivery's lease is sized for one timeout, not 1.5 s plus another 2 s.
  assert.ok(result.durationMs < 3000, `took ${result.durationMs} ms`);
});
