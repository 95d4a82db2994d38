/**
 * Issue 10 item 5: creating an API token needs the password (or a login less than 5 minutes
 * old), every token expires within auth.token_max_lifetime_days, a password change or reset
 * revokes the user's tokens (unless an admin keeps them), and an access token issued in the
 * same second as a password change stops working.
 */
import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { signAccessToken } from "../src/auth/jwt.ts";
import { basicHeader, createTestApp, type TestApp, testPassword } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const DAY = 86_400_000;

async function call(
  t: TestApp,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
) {
  const res = await t.app.request(path, {
    method,
    headers: body === undefined ? headers : { ...headers, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function login(t: TestApp, username: string, password: string) {
  const r = await call(t, "POST", "/api/v3/users/getToken", {}, { username, password });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body as { token: string; refreshToken: string };
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

dbTest("creating an API token needs the password or a login less than 5 minutes old", async () => {
  const db = await createTestDb("token_stepup");
  const t = await createTestApp(db);
  try {
    const s = t.users.submitter;
    const path = `/api/v3/users/${s.uid}/tokens`;
    // The test users' access tokens carry no login time: like one obtained by refreshing a
    // login made long ago, or stolen from a browser.
    const stale = await call(t, "POST", path, s.headers.bearer, { name: "minted" });
    assert.equal(stale.status, 422, JSON.stringify(stale.body));
    assert.equal(stale.body.error.code, "validation_failed");
    assert.deepEqual(stale.body.error.details.map((d: { field: string }) => d.field), [
      "currentPassword",
    ]);
    const viaToken = await call(t, "POST", path, s.headers.token, { name: "minted" });
    assert.equal(viaToken.status, 422, "an API token cannot mint another without the password");
    const wrong = await call(t, "POST", path, s.headers.bearer, {
      name: "minted",
      currentPassword: "not-the-password",
    });
    assert.equal(wrong.status, 422);
    assert.equal(wrong.body.error.details[0].message, "does not match");
    const right = await call(t, "POST", path, s.headers.bearer, {
      name: "minted",
      currentPassword: s.password,
    });
    assert.equal(right.status, 201, JSON.stringify(right.body));

    // Basic carries the password itself.
    assert.equal((await call(t, "POST", path, s.headers.basic, { name: "b" })).status, 201);

    // A fresh login may create one without typing the password again ...
    const fresh = await login(t, s.username, s.password);
    assert.equal(typeof decodeJwt(fresh.token).auth_time, "number");
    assert.equal((await call(t, "POST", path, bearer(fresh.token), { name: "f" })).status, 201);
    // ... and so may the access token refreshed from it: the login time is the family's.
    const refreshed = await call(t, "POST", "/api/v3/users/refreshToken", {}, {
      refreshToken: fresh.refreshToken,
    });
    assert.equal(refreshed.status, 201);
    assert.equal(decodeJwt(refreshed.body.token).auth_time, decodeJwt(fresh.token).auth_time);
    assert.equal(
      (await call(t, "POST", path, bearer(refreshed.body.token), { name: "r" })).status,
      201,
    );
    // A login 301 seconds old is not fresh.
    const nowS = Math.floor(Date.now() / 1000);
    const claims = { sub: s.uid, username: s.username, role: "submitter", authTime: nowS - 301 };
    const { token: old } = await signAccessToken(t.deps.auth.key, claims, 900);
    const tooOld = await call(t, "POST", path, bearer(old), { name: "o" });
    assert.equal(tooOld.status, 422, JSON.stringify(tooOld.body));

    // An admin making a token for someone else gives the admin's own password.
    const a = t.users.admin;
    const forOther = await call(t, "POST", path, a.headers.token, { name: "adm" });
    assert.equal(forOther.status, 422);
    const withAdminPw = await call(t, "POST", path, a.headers.token, {
      name: "adm",
      currentPassword: a.password,
    });
    assert.equal(withAdminPw.status, 201);
    const withOwnersPw = await call(t, "POST", path, a.headers.token, {
      name: "adm",
      currentPassword: s.password,
    });
    assert.equal(withOwnersPw.status, 422, "the caller's password, not the owner's");
    for (const line of t.logs) {
      for (const secret of [s.password, a.password, "not-the-password"]) {
        assert.ok(!line.includes(secret), "no password in a log line");
      }
    }
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("every API token expires, at most auth.token_max_lifetime_days away", async () => {
  const db = await createTestDb("token_lifetime");
  const t = await createTestApp(db, { env: { DHIS2GW_TOKEN_MAX_LIFETIME_DAYS: "30" } });
  try {
    assert.equal(t.config.auth.token_max_lifetime_days, 30);
    const s = t.users.submitter;
    const path = `/api/v3/users/${s.uid}/tokens`;
    for (const body of [{ name: "default" }, { name: "null", expires: null }]) {
      const before = Date.now();
      const r = await call(t, "POST", path, s.headers.basic, body);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const expires = new Date(r.body.expires).getTime();
      assert.ok(expires >= before + 30 * DAY && expires <= Date.now() + 30 * DAY, r.body.expires);
    }
    const inTen = new Date(Date.now() + 10 * DAY).toISOString();
    const ten = await call(t, "POST", path, s.headers.basic, { name: "ten", expires: inTen });
    assert.equal(ten.status, 201);
    assert.equal(ten.body.expires, inTen);
    const far = await call(t, "POST", path, s.headers.basic, {
      name: "far",
      expires: new Date(Date.now() + 31 * DAY).toISOString(),
    });
    assert.equal(far.status, 422);
    assert.equal(far.body.error.details[0].field, "expires");
    assert.match(far.body.error.details[0].message, /at most 30 days/);

    // An expired token is refused with 401.
    await db.sql`update api_tokens set expires = now() - interval '1 second'
                 where id = ${ten.body.id}`;
    const expired = await call(t, "GET", `/api/v3/users/${s.uid}`, {
      Authorization: `Token ${ten.body.token}`,
    });
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error.message, "API token expired");
    // The database refuses a token without an expiry.
    await assert.rejects(
      db.sql`update api_tokens set expires = null where id = ${ten.body.id}`,
      /null value/,
    );
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest(
  "a password change or reset revokes the user's API tokens unless an admin keeps them",
  async () => {
    const db = await createTestDb("token_reset");
    const t = await createTestApp(db, { env: { DHIS2GW_CREDENTIAL_CACHE_TTL: "60" } });
    try {
      const s = t.users.submitter;
      const a = t.users.admin;
      const me = `/api/v3/users/${s.uid}`;
      const works = async (headers: Record<string, string>) =>
        (await call(t, "GET", me, headers)).status;
      assert.equal(await works(s.headers.token), 200); // cached from here on

      // Admin reset, keeping the tokens on purpose.
      const pw1 = testPassword();
      const kept = await call(t, "PUT", me, a.headers.basic, {
        password: pw1,
        keepApiTokens: true,
      });
      assert.equal(kept.status, 200, JSON.stringify(kept.body));
      assert.equal(kept.body.revokedApiTokens, 0);
      assert.equal(await works(s.headers.token), 200);

      // A plain admin reset revokes them, at once on this process.
      const pw2 = testPassword();
      const reset = await call(t, "PUT", me, a.headers.basic, { password: pw2 });
      assert.equal(reset.status, 200);
      assert.equal(reset.body.revokedApiTokens, 1);
      const refused = await call(t, "GET", me, s.headers.token);
      assert.equal(refused.status, 401);
      assert.equal(refused.body.error.message, "API token revoked");

      // The user's own change revokes them too; only an admin may ask to keep them.
      const made = await call(t, "POST", `${me}/tokens`, basicHeader(s.username, pw2), {
        name: "n",
      });
      assert.equal(made.status, 201);
      const token = { Authorization: `Token ${made.body.token}` };
      assert.equal(await works(token), 200);
      const pw3 = testPassword();
      const keepSelf = await call(t, "PUT", me, token, {
        password: pw3,
        currentPassword: pw2,
        keepApiTokens: true,
      });
      assert.equal(keepSelf.status, 403);
      assert.match(keepSelf.body.error.message, /keepApiTokens/);
      const self = await call(t, "PUT", me, token, { password: pw3, currentPassword: pw2 });
      assert.equal(self.status, 200);
      assert.equal(self.body.revokedApiTokens, 1);
      assert.equal(await works(token), 401);
      const [{ n }] = await db.sql`
      select count(*)::int as n from api_tokens where user_id = ${s.id} and revoked_at is null`;
      assert.equal(n, 0);
      // Other users' tokens are untouched.
      assert.equal(await works(a.headers.token), 200);
    } finally {
      await t.close();
      await db.close();
    }
  },
);

dbTest("an access token from the same second as a password change stops working", async () => {
  const db = await createTestDb("token_same_second");
  const t = await createTestApp(db);
  try {
    const v = t.users.viewer;
    const me = `/api/v3/users/${v.uid}`;
    let password = v.password;
    for (let i = 0; i < 3; i++) {
      // From the start of a wall-clock second, so the login and the change usually share it.
      await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000)));
      const { token } = await login(t, v.username, password);
      const next = testPassword();
      const changed = await call(t, "PUT", me, bearer(token), {
        password: next,
        currentPassword: password,
      });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      password = next;
      const again = await login(t, v.username, password); // right after the change
      const old = await call(t, "GET", me, bearer(token));
      assert.equal(old.status, 401, `old token after the change (run ${i})`);
      assert.match(old.body.error.message, /before the last password change/);
      assert.equal((await call(t, "GET", me, bearer(again.token))).status, 200);
    }

    // The same, independent of the machine's speed: a token issued in the very second of the
    // change, with the generation from before it.
    const [before] = await db.sql`select token_generation as gen from users where id = ${v.id}`;
    const pw = testPassword();
    assert.equal(
      (await call(t, "PUT", me, t.users.admin.headers.basic, { password: pw })).status,
      200,
    );
    const [after] = await db.sql`
      select token_generation as gen, password_changed from users where id = ${v.id}`;
    assert.equal(after.gen, before.gen + 1);
    const claims = { sub: v.uid, username: v.username, role: "viewer", gen: before.gen };
    const { token } = await signAccessToken(t.deps.auth.key, claims, 900, after.password_changed);
    const sameSecond = await call(t, "GET", me, bearer(token));
    assert.equal(sameSecond.status, 401);
    const fresh = await login(t, v.username, pw);
    assert.equal(decodeJwt(fresh.token).gen, after.gen);
    assert.equal((await call(t, "GET", me, bearer(fresh.token))).status, 200);
  } finally {
    await t.close();
    await db.close();
  }
});
