import assert from "node:assert/strict";
import { loadConfig, redactedView, redactUrl, secretValues } from "./config.ts";
import { FIELDS } from "./fields.ts";
import { sampleConfigYaml } from "./sample.ts";

Deno.test("defaults apply when nothing is set", () => {
  const { config, problems } = loadConfig({ env: {} });
  assert.deepEqual(problems, []);
  assert.equal(config!.server.port, 9090);
  assert.equal(config!.server.data_dir, "./dhis2gw-data");
  assert.equal(config!.database.uri, "");
  assert.equal(config!.api.mapping_scheme, "CODE");
  assert.ok(Object.isFrozen(config!.server));
});

Deno.test("flags beat env, env beats file, file beats defaults", () => {
  const fileText = "server:\n  port: 7000\n  host: 10.0.0.1\n  max_retries: 3\n";
  const env = { DHIS2GW_SERVER_PORT: "7001", DHIS2GW_HOST: "127.0.0.2" };
  const r = loadConfig({ fileText, env, flags: { "server.port": "7002" } });
  assert.equal(r.config!.server.port, 7002);
  assert.equal(r.config!.server.host, "127.0.0.2");
  assert.equal(r.config!.server.max_retries, 3);
  assert.deepEqual(r.sources["server.port"], { source: "flag", name: "server.port" });
  assert.deepEqual(r.sources["server.host"], { source: "env", name: "DHIS2GW_HOST" });
  assert.deepEqual(r.sources["server.max_retries"], { source: "file", name: "server.max_retries" });
});

Deno.test("the old service's YAML key and lower-case env names are accepted", () => {
  const r = loadConfig({
    fileText: "server:\n  http_port: 8081\napi:\n  dhis2_auth_method: Basic\n",
    env: {
      dhis2_base_url: "https://play.dhis2.org/api/",
      mapping_scheme: "UID",
      dhis2_pat: "d2p_x",
    },
  });
  assert.deepEqual(r.problems, []);
  assert.equal(r.config!.server.port, 8081);
  assert.equal(r.config!.api.dhis2_auth_method, "basic");
  assert.equal(r.config!.api.dhis2_base_url, "https://play.dhis2.org/api/");
  assert.equal(r.config!.api.mapping_scheme, "UID");
  assert.equal(r.config!.api.dhis2_pat, "d2p_x");
});

Deno.test("every problem is reported at once, naming the YAML key and the env var", () => {
  const r = loadConfig({
    fileText: "server:\n  colour: blue\nextra: 1\n",
    filePath: "x.yml",
    env: {
      DHIS2GW_SERVER_PORT: "abc",
      DHIS2GW_DHIS2_AUTH_METHOD: "oauth",
      DHIS2GW_MAX_RETRIES: "-1",
    },
  });
  assert.equal(r.config, undefined);
  assert.deepEqual(r.problems, [
    'x.yml: unknown key "server.colour"',
    'x.yml: unknown key "extra"',
    "server.port (env DHIS2GW_SERVER_PORT): must be a whole number (set by env DHIS2GW_SERVER_PORT)",
    "server.max_retries (env DHIS2GW_MAX_RETRIES): must be at least 0 (set by env DHIS2GW_MAX_RETRIES)",
    'api.dhis2_auth_method (env DHIS2GW_DHIS2_AUTH_METHOD): must be one of basic, pat (got "oauth") (set by env DHIS2GW_DHIS2_AUTH_METHOD)',
  ]);
});

Deno.test("cross-field checks: URLs, JWT secret length, time zone", () => {
  const r = loadConfig({
    env: {
      DHIS2GW_DB: "mysql://x",
      DHIS2GW_DHIS2_BASE_URL: "ftp://x",
      DHIS2GW_JWT_SECRET: "short",
      DHIS2GW_TIMEZONE: "Mars/Olympus",
    },
  });
  assert.equal(r.problems.length, 4);
  assert.match(r.problems[0], /DHIS2GW_DB/);
  assert.match(r.problems[1], /DHIS2GW_DHIS2_BASE_URL/);
  assert.match(r.problems[2], /DHIS2GW_JWT_SECRET.*32 bytes/);
  assert.match(r.problems[3], /DHIS2GW_TIMEZONE/);
});

Deno.test("the redacted view hides every secret, including the database password", () => {
  const env = {
    DHIS2GW_DB: "postgres://gw:s3cretDbPass@db/dhis2gw",
    DHIS2GW_DHIS2_PASSWORD: "district-pass",
    DHIS2GW_DHIS2_PAT: "d2p_abcdefgh",
    DHIS2GW_JWT_SECRET: "x".repeat(40),
    DHIS2GW_ADMIN_PASSWORD: "admin-secret-pw",
  };
  const { config } = loadConfig({ env });
  const text = JSON.stringify(redactedView(config!));
  for (
    const secret of [
      "s3cretDbPass",
      "district-pass",
      "d2p_abcdefgh",
      "x".repeat(40),
      "admin-secret-pw",
    ]
  ) {
    assert.ok(!text.includes(secret), secret);
  }
  assert.match(text, /postgres:\/\/gw:REDACTED@db\/dhis2gw/);
  assert.deepEqual(
    new Set(secretValues(config!)),
    new Set([
      "postgres://gw:s3cretDbPass@db/dhis2gw",
      "district-pass",
      "d2p_abcdefgh",
      "x".repeat(40),
      "admin-secret-pw",
      "s3cretDbPass",
    ]),
  );
});

Deno.test("the committed sample config is current and loads cleanly with every key", async () => {
  const committed = await Deno.readTextFile(
    new URL("../../packaging/dhis2gw.yml", import.meta.url),
  );
  assert.equal(committed, sampleConfigYaml(), "run `deno task sample-config`");
  const r = loadConfig({ fileText: committed, env: {} });
  assert.deepEqual(r.problems, []);
  for (const f of FIELDS) assert.equal(r.sources[f.key].source, "file", f.key);
});

Deno.test("the old service's own keys are noted and ignored; other unknown keys stay problems", () => {
  const r = loadConfig({
    fileText: [
      "database:",
      "  uri: postgres://gw@db/gw",
      "  db_host: localhost",
      "server:",
      "  http_port: 9191",
      "  migrations_dir: file:///usr/share/dhis2gw/db/migrations",
      "  templates_directory: /usr/share/dhis2gw/docs/templates",
      "  redis_address: 127.0.0.1:6379",
      "api:",
      "  dhis2_tree_ids: abc",
      "  authtoken: xyz",
      "pbs:",
      "  pbsurl: https://pbs.example/graphql",
    ].join("\n"),
    filePath: "old.yml",
    env: {},
  });
  assert.deepEqual(r.problems, []);
  assert.equal(r.config!.server.port, 9191);
  assert.deepEqual(
    r.notes.map((n) => /"([^"]+)"/.exec(n)![1]),
    [
      "database.db_host",
      "server.migrations_dir",
      "server.templates_directory",
      "server.redis_address",
      "api.dhis2_tree_ids",
      "api.authtoken",
      "pbs",
    ],
  );
  assert.match(r.notes[0], /^old\.yml: "database\.db_host" is a setting of the old service/);

  const typo = loadConfig({ fileText: "server:\n  migration_dir: x\n", env: {} });
  assert.deepEqual(typo.problems, ['config file: unknown key "server.migration_dir"']);
});

Deno.test("a YAML syntax error says where, without quoting the file's lines", () => {
  const r = loadConfig({
    fileText: "api:\n  dhis2_password: Sup3rS3cretDhis2\n\tdhis2_user: x\n",
    filePath: "bad.yml",
    env: {},
  });
  assert.equal(r.config, undefined);
  assert.equal(r.problems.length, 1);
  assert.match(r.problems[0], /^bad\.yml: not valid YAML at line 3, column 1 \([A-Z_]+\)$/);
  assert.ok(!r.problems[0].includes("Sup3rS3cretDhis2"), r.problems[0]);
  assert.ok(!r.problems[0].includes("\n"));
});

Deno.test("a CORS entry that is not an origin is a problem at load, naming the env var", () => {
  const r = loadConfig({ env: { DHIS2GW_CORS_ORIGINS: "https://a.example,dash.example.org" } });
  assert.equal(r.config, undefined);
  assert.deepEqual(r.problems, [
    'server.cors_origins (env DHIS2GW_CORS_ORIGINS): "dash.example.org" is not an origin such as https://dashboard.example.org',
  ]);
  assert.equal(loadConfig({ env: {} }).config!.server.cors_origins, "*");
});

Deno.test("an unquoted *alias or !tag password is a problem that never quotes it", () => {
  for (const line of ["  dhis2_password: *Passw0rd123", "  dhis2_password: !Passw0rd123"]) {
    const r = loadConfig({ fileText: `api:\n${line}\n`, filePath: "p.yml", env: {} });
    assert.equal(r.config, undefined, line);
    assert.equal(r.problems.length, 1, JSON.stringify(r.problems));
    assert.match(r.problems[0], /^p\.yml: not valid YAML.*quote the value$/);
    assert.ok(!r.problems[0].includes("Passw0rd123"), r.problems[0]);
  }
});

Deno.test("a database password in a query parameter is redacted and scrubbed from logs", () => {
  const uri = "postgres://gw@db/gw?sslmode=require&password=q%40p-secret&sslpassword=k3y-pass" +
    "&passfile=/etc/pgpass&sslkey=/etc/key.pem";
  const { config } = loadConfig({ env: { DHIS2GW_DB: uri } });
  const view = redactedView(config!) as { database: { uri: string } };
  assert.equal(
    view.database.uri,
    "postgres://gw@db/gw?sslmode=require&password=REDACTED&sslpassword=REDACTED" +
      "&passfile=/etc/pgpass&sslkey=/etc/key.pem",
  );

  assert.deepEqual(
    new Set(secretValues(config!)),
    new Set([uri, "q%40p-secret", "q@p-secret", "k3y-pass"]),
  );
  // A raw @ or / in the userinfo password: hidden to the last @ before the query.
  assert.equal(redactUrl("postgres://gw:p@ss/w@db/gw"), "postgres://gw:REDACTED@db/gw");
  assert.equal(redactUrl("postgres://gw:@db/gw"), "postgres://gw:@db/gw");
  assert.equal(redactUrl("postgres://db/gw?user=gw"), "postgres://db/gw?user=gw");
  assert.equal(redactUrl(""), "");
});
