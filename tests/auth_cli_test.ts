/** The real CLI and server as subprocesses, the way an operator and a new user meet them. */
import assert from "node:assert/strict";
import { verifyPassword } from "../src/auth/password.ts";
import { createTestApp } from "./support/app.ts";
import { portFrom, runCli, startServe } from "./support/cli.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest("user create / list / reset-password read the password from stdin", async () => {
  const db = await createTestDb("auth_cli");
  const env = { DHIS2GW_DB: db.url };
  try {
    const pw = "operator chosen passphrase";
    const created = await runCli(
      ["user", "create", "--username", "ops_admin", "--role", "admin", "--password-stdin"],
      { env, stdin: `${pw}\n` },
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^created user ops_admin \(uid [A-Za-z0-9]{11}, role admin\)\n$/);

    const weak = await runCli(
      ["user", "create", "--username", "weak_one", "--role", "viewer", "--password-stdin"],
      { env, stdin: "weak_one12\n" },
    );
    assert.equal(weak.code, 1);
    assert.match(weak.stderr, /password is too weak: it must not contain the username/);
    assert.ok(!weak.stderr.includes("weak_one12") && !weak.stdout.includes("weak_one12"));

    const noStdin = await runCli(["user", "create", "--username", "x_user", "--role", "viewer"], {
      env,
    });
    assert.equal(noStdin.code, 2);
    assert.match(noStdin.stderr, /--password-stdin/);
    const badRole = await runCli(
      ["user", "create", "--username", "x_user", "--role", "root", "--password-stdin"],
      { env, stdin: "whatever long enough\n" },
    );
    assert.equal(badRole.code, 2);
    assert.match(badRole.stderr, /--role must be one of admin, submitter, viewer/);
    const dup = await runCli(
      ["user", "create", "--username", "OPS_ADMIN", "--role", "viewer", "--password-stdin"],
      { env, stdin: "another long passphrase\n" },
    );
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already taken/);

    const list = await runCli(["user", "list"], { env });
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout.trim().split("\n");
    assert.match(rows[0], /^UID\s+USERNAME\s+ROLE\s+ACTIVE\s+SOURCE\s+LAST LOGIN$/);
    assert.equal(rows.length, 2);
    assert.match(rows[1], /^[A-Za-z0-9]{11}\s+ops_admin\s+admin\s+yes\s+default\s+never$/);

    const newPw = "a second operator passphrase";
    const reset = await runCli(
      ["user", "reset-password", "--username", "ops_admin", "--password-stdin"],
      { env, stdin: newPw },
    );
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /password of ops_admin changed/);
    const [{ password_hash }] = await db.sql`
      select password_hash from users where username = 'ops_admin'`;
    assert.ok(await verifyPassword(newPw, password_hash));
    const unknown = await runCli(
      ["user", "reset-password", "--username", "ghost", "--password-stdin"],
      { env, stdin: newPw },
    );
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no user named ghost/);
    // An old client's 40-hex token keeps working once imported (only its hash is stored).
    const legacy = "0123456789abcdef0123456789abcdef01234567";
    const imported = await runCli(
      ["user", "import-token", "--username", "ops_admin", "--name", "old bridge", "--token-stdin"],
      { env, stdin: `${legacy}\n` },
    );
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(
      imported.stdout,
      /^imported API token \d+ \(01234567…\) for ops_admin, expires \d{4}-\d\d-\d\dT[\d:.]+Z\n$/,
    );
    const again = await runCli(
      ["user", "import-token", "--username", "ops_admin", "--name", "dup", "--token-stdin"],
      { env, stdin: legacy },
    );
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already imported/);
    const t = await createTestApp(db);
    try {
      const res = await t.app.request("/api/v3/users", {
        headers: { Authorization: `Token ${legacy}` },
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    } finally {
      await t.close();
    }

    const check = await runCli(["config", "check"], {
      env: { ...env, DHIS2GW_ADMIN_PASSWORD: pw, DHIS2GW_JWT_SECRET: "k".repeat(40) },
    });
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /admin_password: REDACTED/);
    assert.match(check.stdout, /jwt_secret: REDACTED/);

    for (const r of [created, list, reset, unknown, imported, again, check]) {
      for (const s of [pw, newPw, legacy, "k".repeat(40)]) {
        assert.ok(!(r.stdout + r.stderr).includes(s));
      }
    }
  } finally {
    await db.close();
  }
});

dbTest(
  "a new user's path: admin password from env, login, submitter, API token, Token call",
  async () => {
    const db = await createTestDb("auth_first_run");
    const adminPw = "first operator passphrase";
    const serve = startServe(["serve", "--no-worker"], {
      env: {
        DHIS2GW_DB: db.url,
        DHIS2GW_SERVER_PORT: "0",
        DHIS2GW_HOST: "127.0.0.1",
        DHIS2GW_ADMIN_PASSWORD: adminPw,
      },
    });
    try {
      const base = `http://127.0.0.1:${portFrom(await serve.waitFor(/"listening"/))}/api/v3`;
      // curl -u admin:… -X POST …/users/getToken
      const login = await fetch(`${base}/users/getToken`, {
        method: "POST",
        headers: { Authorization: `Basic ${btoa(`admin:${adminPw}`)}` },
      });
      assert.equal(login.status, 201);
      const { token } = await login.json();
      const bearer = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
      const created = await fetch(`${base}/users`, {
        method: "POST",
        headers: bearer,
        body: JSON.stringify({
          username: "hmis",
          password: "bridge long passphrase",
          role: "submitter",
        }),
      });
      assert.equal(created.status, 201);
      const { uid } = await created.json();
      const made = await fetch(`${base}/users/${uid}/tokens`, {
        method: "POST",
        headers: bearer,
        body: JSON.stringify({ name: "HMIS bridge" }),
      });
      assert.equal(made.status, 201);
      const apiToken = (await made.json()).token;
      const me = await fetch(`${base}/users/${uid}`, {
        headers: { Authorization: `Token ${apiToken}` },
      });
      assert.equal(me.status, 200);
      assert.equal((await me.json()).role, "submitter");
      const forbidden = await fetch(`${base}/users`, {
        headers: { Authorization: `Token ${apiToken}` },
      });
      assert.equal(forbidden.status, 403);
      await forbidden.body?.cancel();
      const status = await serve.stop();
      assert.equal(status.code, 0);
      for (const secret of [adminPw, token, apiToken]) {
        assert.ok(!serve.lines.some((l) => l.includes(secret)), "no secret in the server output");
      }
    } finally {
      await serve.stop();
      await db.close();
    }
  },
);

dbTest(
  "without an admin password, serve prints a generated one once, never on restart",
  async () => {
    const db = await createTestDb("auth_first_run_gen");
    const env = { DHIS2GW_DB: db.url, DHIS2GW_SERVER_PORT: "0", DHIS2GW_HOST: "127.0.0.1" };
    try {
      const first = startServe(["serve", "--no-worker"], { env });
      const line = await first.waitFor(/generated password/);
      const password = /generated password (\S+) ;/.exec(line)![1];
      const port = portFrom(await first.waitFor(/"listening"/));
      const login = await fetch(`http://127.0.0.1:${port}/api/v3/users/getToken`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: "admin", password }),
      });
      assert.equal(login.status, 201);
      await login.body?.cancel();
      await first.stop();
      assert.equal(first.lines.filter((l) => l.includes(password)).length, 1);

      const second = startServe(["serve", "--no-worker"], { env });
      await second.waitFor(/"listening"/);
      await second.stop();
      assert.ok(!second.lines.some((l) => l.includes("generated password")));
    } finally {
      await db.close();
    }
  },
);

dbTest("user reset-password revokes the user's API tokens unless --keep-api-tokens", async () => {
  const db = await createTestDb("auth_cli_reset_tokens");
  const env = { DHIS2GW_DB: db.url, DHIS2GW_TOKEN_MAX_LIFETIME_DAYS: "20" };
  try {
    const pw = "operator chosen passphrase";
    const created = await runCli(
      ["user", "create", "--username", "bridge", "--role", "submitter", "--password-stdin"],
      { env, stdin: `${pw}\n` },
    );
    assert.equal(created.code, 0, created.stderr);
    const legacy = "89abcdef0123456789abcdef0123456789abcdef";
    const imported = await runCli(
      ["user", "import-token", "--username", "bridge", "--name", "old", "--token-stdin"],
      { env, stdin: legacy },
    );
    assert.equal(imported.code, 0, imported.stderr);
    const [{ days }] = await db.sql`
      select round(extract(epoch from expires - now()) / 86400)::int as days from api_tokens`;
    assert.equal(days, 20, "an imported token expires too, auth.token_max_lifetime_days away");
    const live = async () =>
      (await db.sql`select count(*)::int as n from api_tokens where revoked_at is null`)[0].n;

    const kept = await runCli(
      ["user", "reset-password", "--username", "bridge", "--password-stdin", "--keep-api-tokens"],
      { env, stdin: "second chosen passphrase" },
    );
    assert.equal(kept.code, 0, kept.stderr);
    assert.match(kept.stdout, /their API tokens are kept/);
    assert.equal(await live(), 1);

    const reset = await runCli(
      ["user", "reset-password", "--username", "bridge", "--password-stdin"],
      { env, stdin: "third chosen passphrase" },
    );
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /1 API token\(s\) revoked/);
    assert.equal(await live(), 0);
    const [{ token_generation }] = await db.sql`
      select token_generation from users where username = 'bridge'`;
    assert.equal(token_generation, 2, "each reset retires the access tokens issued before it");
  } finally {
    await db.close();
  }
});
