import assert from "node:assert/strict";
import { runCli } from "./support/cli.ts";

Deno.test("config check names every problem with its env var and exits non-zero", async () => {
  const r = await runCli(["config", "check"], {
    env: {
      DHIS2GW_SERVER_PORT: "abc",
      DHIS2GW_DHIS2_AUTH_METHOD: "kerberos",
      DHIS2GW_DHIS2_PASSWORD: "Sup3r-secret-pw",
    },
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /configuration has 2 problem\(s\)/);
  assert.match(r.stderr, /server\.port \(env DHIS2GW_SERVER_PORT\): must be a whole number/);
  assert.match(
    r.stderr,
    /api\.dhis2_auth_method \(env DHIS2GW_DHIS2_AUTH_METHOD\): must be one of basic, pat/,
  );
  assert.ok(!r.stderr.includes("Sup3r-secret-pw"));
  assert.ok(!r.stdout.includes("Sup3r-secret-pw"));
});

Deno.test("config check prints the effective configuration with secrets redacted", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/gw.yml`,
      "server:\n  port: 8181\napi:\n  dhis2_password: file-secret-123\n",
    );
    const r = await runCli(["config", "check", "--config-file", `${dir}/gw.yml`], {
      env: {
        DHIS2GW_DB: "postgres://gw:db-secret-456@db.example/gw",
        DHIS2GW_DHIS2_PAT: "d2p_pat_secret_789",
        DHIS2GW_JWT_SECRET: "j".repeat(48),
      },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`# config file: ${dir}/gw.yml`));
    assert.match(r.stdout, /port: 8181/);
    assert.match(r.stdout, /uri: postgres:\/\/gw:REDACTED@db\.example\/gw/);
    assert.match(r.stdout, /dhis2_pat: REDACTED/);
    assert.match(r.stdout, /dhis2_password: REDACTED/);
    for (const s of ["file-secret-123", "db-secret-456", "d2p_pat_secret_789", "j".repeat(48)]) {
      assert.ok(!r.stdout.includes(s), s);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an old service's config file starts: its unused keys are noted, not fatal", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/old.yml`,
      "server:\n  http_port: 8282\n  migrations_dir: file:///usr/share/dhis2gw/db/migrations\n" +
        "  redis_address: 127.0.0.1:6379\napi:\n  dhis2_password: old-secret-pw\n",
    );
    const r = await runCli(["config", "check", "--config-file", `${dir}/old.yml`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /port: 8282/);
    assert.match(r.stdout, /# note: .*"server\.migrations_dir" is a setting of the old service/);
    assert.match(r.stdout, /# note: .*"server\.redis_address"/);
    assert.ok(!r.stdout.includes("old-secret-pw"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--config and DHIS2GW_CONFIG select the file; a missing explicit file is an error", async () => {
  const missing = await runCli(["config", "check", "--config", "/nonexistent/gw.yml"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read config file \/nonexistent\/gw\.yml/);
  const viaEnv = await runCli(["config", "check"], {
    env: { DHIS2GW_CONFIG: "/nonexistent/x.yml" },
  });
  assert.equal(viaEnv.code, 1);
  assert.match(viaEnv.stderr, /\/nonexistent\/x\.yml/);
});

Deno.test("version, --help and unknown commands", async () => {
  const v = await runCli(["version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^dhis2gw \d+\.\d+\.\d+\n$/);
  const help = await runCli(["--help"]);
  assert.equal(help.code, 0);
  for (const cmd of ["serve", "migrate", "config", "version"]) {
    assert.match(help.stdout, new RegExp(`\\n  ${cmd} `));
  }
  const serveHelp = await runCli(["serve", "--help"]);
  assert.equal(serveHelp.code, 0);
  assert.match(serveHelp.stdout, /--worker-only/);
  const bad = await runCli(["frobnicate"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command "frobnicate"/);
  const badFlag = await runCli(["serve", "--nope"]);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /--nope/);
});

Deno.test("config check redacts a database password given as a query parameter", async () => {
  const cases: Array<[string, RegExp]> = [
    [
      "postgres://gw@db.example/gw?sslmode=require&password=qp-secret-111&sslpassword=ssl-secret-222",
      /uri: postgres:\/\/gw@db\.example\/gw\?sslmode=require&password=REDACTED&sslpassword=REDACTED\n/,
    ],
    [
      "postgresql://gw:ui-secret-333@db.example:5433/gw?PassWord=qp-secret-444&application_name=gw",
      /uri: postgresql:\/\/gw:REDACTED@db\.example:5433\/gw\?PassWord=REDACTED&application_name=gw\n/,
    ],
    // A Unix-socket URL is not a WHATWG URL (no host): redacted all the same, host kept.
    [
      "postgres://gw:so-secret-555@/gw?host=/var/run/postgresql&password=qp-secret-666",
      /uri: postgres:\/\/gw:REDACTED@\/gw\?host=\/var\/run\/postgresql&password=REDACTED\n/,
    ],
  ];
  for (const [uri, shown] of cases) {
    const r = await runCli(["config", "check"], { env: { DHIS2GW_DB: uri } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, shown);
    assert.doesNotMatch(r.stdout + r.stderr, /secret-\d{3}/);
  }
});
