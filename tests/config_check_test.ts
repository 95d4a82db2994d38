import assert from "node:assert/strict";
import { startSimulator } from "../src/simulator/simulator.ts";
import { runCli } from "./support/cli.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

Deno.test("config check reports nine mistakes as nine problems, in one run", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/gw.yml`, "server:\n  prot: 8080\n");
    const r = await runCli(["config", "check", "--config", `${dir}/gw.yml`], {
      env: {
        DHIS2GW_SERVER_PORT: "abc",
        DHIS2GW_DHIS2_AUTH_METHOD: "kerberos",
        DHIS2GW_MAX_RETRIES: "-1",
        DHIS2GW_LOG_LEVEL: "loud",
        DHIS2GW_DB: "mysql://gw@db/gw",
        DHIS2GW_TLS_CERT: "/etc/ssl/gw.pem",
        DHIS2GW_TIMEZONE: "Mars/Olympus",
        DHIS2GW_JWT_SECRET: "too-short",
      },
    });
    assert.equal(r.code, 1);
    const problems = r.stderr.split("\n").filter((l) => l.startsWith("  - "));
    assert.match(r.stderr, /configuration has 9 problem\(s\)/);
    assert.deepEqual(problems.map((l) => l.replace(/:.*/s, "").slice(4)).sort(), [
      `${dir}/gw.yml`,
      "api.dhis2_auth_method (env DHIS2GW_DHIS2_AUTH_METHOD)",
      "auth.jwt_secret (env DHIS2GW_JWT_SECRET)",
      "database.uri (env DHIS2GW_DB)",
      "server.log_level (env DHIS2GW_LOG_LEVEL)",
      "server.max_retries (env DHIS2GW_MAX_RETRIES)",
      "server.port (env DHIS2GW_SERVER_PORT)",
      "server.timezone (env DHIS2GW_TIMEZONE)",
      "server.tls_cert (env DHIS2GW_TLS_CERT) and server.tls_key (env DHIS2GW_TLS_KEY)",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config check warns about a missing DHIS2 URL or credentials, and still exits 0", async () => {
  const none = await runCli(["config", "check"], { env: {} });
  assert.equal(none.code, 0, none.stderr);
  assert.deepEqual(none.stderr.split("\n").filter(Boolean), [
    "warning: api.dhis2_base_url (env DHIS2GW_DHIS2_BASE_URL) is not set: submissions are accepted but none can be delivered",
    "warning: api.dhis2_auth_method is basic but api.dhis2_user (env DHIS2GW_DHIS2_USER) and api.dhis2_password (env DHIS2GW_DHIS2_PASSWORD) are not set: DHIS2 will refuse every delivery",
  ]);
  const pat = await runCli(["config", "check"], {
    env: { DHIS2GW_DHIS2_BASE_URL: "http://127.0.0.1:1", DHIS2GW_DHIS2_AUTH_METHOD: "pat" },
  });
  assert.equal(pat.code, 0);
  assert.equal(
    pat.stderr,
    "warning: api.dhis2_auth_method is pat but api.dhis2_pat (env DHIS2GW_DHIS2_PAT) is not set: DHIS2 will refuse every delivery\n",
  );
});

Deno.test("config check prints every problem and every warning in one run", async () => {
  // A bad port and a short JWT secret, and no DHIS2 URL or credentials: all four are printed.
  const r = await runCli(["config", "check"], {
    env: { DHIS2GW_SERVER_PORT: "abc", DHIS2GW_JWT_SECRET: "too-short" },
  });
  assert.equal(r.code, 1);
  assert.deepEqual(r.stderr.split("\n").filter(Boolean), [
    "configuration has 2 problem(s):",
    "  - server.port (env DHIS2GW_SERVER_PORT): must be a whole number (set by env DHIS2GW_SERVER_PORT)",
    "  - auth.jwt_secret (env DHIS2GW_JWT_SECRET): must be at least 32 bytes",
    "warning: api.dhis2_base_url (env DHIS2GW_DHIS2_BASE_URL) is not set: submissions are accepted but none can be delivered",
    "warning: api.dhis2_auth_method is basic but api.dhis2_user (env DHIS2GW_DHIS2_USER) and api.dhis2_password (env DHIS2GW_DHIS2_PASSWORD) are not set: DHIS2 will refuse every delivery",
  ]);
  // A setting that is itself a problem is not warned about as well: a mistyped auth method
  // says nothing about which credentials are missing.
  const typo = await runCli(["config", "check"], {
    env: { DHIS2GW_DHIS2_BASE_URL: "http://127.0.0.1:1", DHIS2GW_DHIS2_AUTH_METHOD: "pta" },
  });
  assert.equal(typo.code, 1);
  assert.deepEqual(
    typo.stderr.split("\n").filter((l) => l.startsWith("warning:")),
    [],
    typo.stderr,
  );
  assert.match(typo.stderr, /configuration has 1 problem\(s\):\n {2}- api.dhis2_auth_method/);
});

dbTest("config check --connect tries DHIS2 (info, me, authority) and the database", async () => {
  const sim = await startSimulator({
    users: [
      { username: "admin", password: "district" },
      { username: "viewer", password: "Viewer-pw-1", authorities: ["F_VIEW_DATABROWSER"] },
    ],
  });
  const db = await createTestDb("config_connect");
  try {
    const env = (user: string, password: string) => ({
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: user,
      DHIS2GW_DHIS2_PASSWORD: password,
      DHIS2GW_DB: db.url,
    });
    const good = await runCli(["config", "check", "--connect"], { env: env("admin", "district") });
    assert.equal(good.code, 0, good.stderr);
    const okLines = good.stdout.split("\n").filter((l) => l.startsWith("ok: "));
    assert.deepEqual(okLines, [
      `ok: DHIS2 /api/system/info: ${sim.url}/api answers, version 2.41.3`,
      "ok: DHIS2 /api/me: signed in as admin",
      "ok: DHIS2 authorities: admin has ALL",
      "ok: database: connected; migrations are current",
    ]);

    const wrong = await runCli(["config", "check", "--connect"], { env: env("admin", "nope") });
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      /^problem: DHIS2 \/api\/me: DHIS2 refused the user and password \(HTTP 401\)$/m,
    );
    assert.ok(!wrong.stderr.includes("nope") && !wrong.stdout.includes("nope"));

    const viewer = await runCli(["config", "check", "--connect"], {
      env: env("viewer", "Viewer-pw-1"),
    });
    assert.equal(viewer.code, 1);
    assert.match(
      viewer.stderr,
      /^problem: DHIS2 authorities: viewer lacks F_DATAVALUE_ADD \(or ALL\), needed for POST \/api\/dataValueSets$/m,
    );

    const noDb = await runCli(["config", "check", "--connect"], {
      env: {
        ...env("admin", "district"),
        DHIS2GW_DB: "postgres://x@127.0.0.1:1/x",
        DHIS2GW_DB_CONNECT_TIMEOUT: "2",
      },
    });
    assert.equal(noDb.code, 1);
    assert.match(noDb.stderr, /^problem: database: /m);
  } finally {
    await db.close();
    await sim.stop();
  }
});
