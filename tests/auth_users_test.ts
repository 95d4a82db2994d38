import assert from "node:assert/strict";
import { signAccessToken } from "../src/auth/jwt.ts";
import { basicHeader, createTestApp, type TestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

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
  // No reply may ever carry a password hash.
  assert.ok(!text.includes("scrypt$"), `${method} ${path} leaked a hash`);
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

dbTest(
  "users: create on both old paths, weak passwords say why, list filters and pages",
  async () => {
    const db = await createTestDb("auth_users");
    const t = await createTestApp(db);
    const admin = t.users.admin.headers.bearer;
    try {
      const old = await call(t, "POST", "/api/v3/user", admin, {
        username: "hmis_bridge",
        password: "long enough passphrase",
        firstName: "HMIS",
        lastName: "Bridge",
        email: "hmis@example.org",
        telephone: "+256700000000",
        isActive: true,
        isAdminUser: true,
      });
      assert.equal(old.status, 201, JSON.stringify(old.body));
      assert.equal(old.body.message, "User created successfully!");
      assert.match(old.body.uid, /^[a-zA-Z][a-zA-Z0-9]{10}$/);
      assert.equal(old.body.role, "admin", "isAdminUser: true alone means admin");
      assert.equal(old.body.isAdminUser, true);
      assert.equal(old.body.firstName, "HMIS");
      assert.equal(old.body.sourceName, "default");

      const plain = await call(t, "POST", "/api/v3/users", admin, {
        username: "lab_system",
        password: "another long passphrase",
        sourceName: "lab",
      });
      assert.equal(plain.status, 201);
      assert.equal(plain.body.role, "submitter", "the default role");
      assert.equal(plain.body.sourceName, "lab");

      const weak = await call(t, "POST", "/api/v3/users", admin, {
        username: "weakling",
        password: "weakling1",
      });
      assert.equal(weak.status, 422);
      assert.equal(weak.body.error.code, "validation_failed");
      assert.deepEqual(weak.body.error.details, [
        { field: "password", message: "must be at least 10 characters long" },
        { field: "password", message: "must not contain the username" },
      ]);
      assert.match(weak.body.error.message, /password is too weak: it must be at least 10/);

      const common = await call(t, "POST", "/api/v3/users", admin, {
        username: "commoner",
        password: "password123",
      });
      assert.equal(common.status, 422);
      assert.match(common.body.error.message, /most commonly used/);

      const contradiction = await call(t, "POST", "/api/v3/users", admin, {
        username: "confused",
        password: "long enough passphrase",
        isAdminUser: true,
        role: "viewer",
      });
      assert.equal(contradiction.status, 422);
      assert.equal(contradiction.body.error.details[0].field, "isAdminUser");

      const dup = await call(t, "POST", "/api/v3/users", admin, {
        username: "HMIS_Bridge",
        password: "long enough passphrase",
      });
      assert.equal(dup.status, 409, "usernames are unique regardless of case");

      const badName = await call(t, "POST", "/api/v3/users", admin, {
        username: "has space",
        password: "long enough passphrase",
      });
      assert.equal(badName.status, 422);
      assert.equal(badName.body.error.details[0].field, "username");

      // 3 test users + 2 created above.
      const all = await call(t, "GET", "/api/v3/users?page_size=2", admin);
      assert.deepEqual(
        { total: all.body.total, page: all.body.page, size: all.body.page_size },
        { total: 5, page: 1, size: 2 },
      );
      assert.equal(all.body.total_pages, 3);
      assert.equal(all.body.items.length, 2);
      const last = await call(t, "GET", "/api/v3/users?page_size=2&page=3", admin);
      assert.equal(last.body.items.length, 1);
      const admins = await call(t, "GET", "/api/v3/users?role=admin", admin);
      assert.deepEqual(
        admins.body.items.map((u: { username: string }) => u.username).sort(),
        [t.users.admin.username, "hmis_bridge"].sort(),
      );
      // The old service's is_admin filter, both ways.
      const oldAdmins = await call(t, "GET", "/api/v3/users?is_admin=true", admin);
      assert.deepEqual(
        oldAdmins.body.items.map((u: { username: string }) => u.username).sort(),
        [t.users.admin.username, "hmis_bridge"].sort(),
      );
      const others = await call(t, "GET", "/api/v3/users?is_admin=false", admin);
      assert.equal(others.body.total, 3);
      assert.ok(others.body.items.every((u: { role: string }) => u.role !== "admin"));
      const byName = await call(t, "GET", "/api/v3/users?username=LAB_SYSTEM", admin);
      assert.deepEqual(byName.body.items.map((u: { uid: string }) => u.uid), [plain.body.uid]);
      const byEmail = await call(t, "GET", "/api/v3/users?email=hmis@example.org", admin);
      assert.equal(byEmail.body.total, 1);
      const byUid = await call(t, "GET", `/api/v3/users?uid=${plain.body.uid}`, admin);
      assert.equal(byUid.body.total, 1);
      await call(t, "DELETE", `/api/v3/users/${plain.body.uid}`, admin);
      const inactive = await call(t, "GET", "/api/v3/users?is_active=false", admin);
      assert.deepEqual(inactive.body.items.map((u: { uid: string }) => u.uid), [plain.body.uid]);
      const badFilter = await call(t, "GET", "/api/v3/users?is_active=maybe", admin);
      assert.equal(badFilter.status, 422);
      assert.equal(badFilter.body.error.details[0].field, "is_active");
    } finally {
      await t.close();
      await db.close();
    }
  },
);

dbTest("users: partial update, self service, admin-only fields, last admin kept", async () => {
  const db = await createTestDb("auth_users_update");
  const t = await createTestApp(db);
  const admin = t.users.admin.headers.token;
  try {
    const v = t.users.viewer;
    const put = (headers: Record<string, string>, body: unknown, uid = v.uid) =>
      call(t, "PUT", `/api/v3/users/${uid}`, headers, body);

    const r1 = await put(admin, { firstName: "Vera", email: "vera@example.org" });
    assert.equal(r1.status, 200);
    assert.equal(r1.body.message, "User updated successfully", "the old service's reply field");
    // The old service's lower-case spellings are read too.
    const old = await put(admin, { firstname: "Old", lastname: "Client" });
    assert.deepEqual([old.body.firstName, old.body.lastName], ["Old", "Client"]);
    await put(admin, { firstName: "Vera", lastName: "" });
    const r2 = await put(admin, { lastName: "Viewer" });
    assert.deepEqual(
      [r2.body.firstName, r2.body.lastName, r2.body.email],
      ["Vera", "Viewer", "vera@example.org"],
      "omitted fields keep their values",
    );

    // A viewer may edit their own profile, but not their role or source.
    assert.equal((await put(v.headers.bearer, { telephone: "+256711111111" })).status, 200);
    const escalate = await put(v.headers.bearer, { role: "admin" });
    assert.equal(escalate.status, 403);
    assert.match(escalate.body.error.message, /only an admin may change role/);
    assert.equal((await put(v.headers.bearer, { sourceName: "x" })).status, 403);
    // Nor anybody else's.
    const other = await put(v.headers.bearer, { firstName: "X" }, t.users.submitter.uid);
    assert.equal(other.status, 403);
    const peek = await call(t, "GET", `/api/v3/users/${t.users.admin.uid}`, v.headers.bearer);
    assert.equal(peek.status, 403);
    assert.equal((await call(t, "GET", `/api/v3/users/${v.uid}`, v.headers.bearer)).status, 200);

    // Own password: needs the current one, and the new one must pass the policy.
    const noCurrent = await put(v.headers.basic, { password: "a brand new passphrase" });
    assert.equal(noCurrent.status, 422);
    assert.equal(noCurrent.body.error.details[0].field, "currentPassword");
    const weak = await put(v.headers.basic, { password: "short", currentPassword: v.password });
    assert.equal(weak.status, 422);
    assert.equal(weak.body.error.details[0].field, "password");
    const changed = await put(v.headers.basic, {
      password: "a brand new passphrase",
      currentPassword: v.password,
    });
    assert.equal(changed.status, 200);
    // The old password stops at once on this process (its cache entry is dropped) ...
    const stale = await call(t, "GET", `/api/v3/users/${v.uid}`, v.headers.basic);
    assert.equal(stale.status, 401);
    const fresh = basicHeader(v.username, "a brand new passphrase");
    assert.equal((await call(t, "GET", `/api/v3/users/${v.uid}`, fresh)).status, 200);
    // ... and so do access tokens issued before the change.
    const { token: before } = await signAccessToken(
      t.deps.auth.key,
      { sub: v.uid, username: v.username, role: "viewer" },
      900,
      new Date(Date.now() - 5000),
    );
    const oldJwt = await call(t, "GET", `/api/v3/users/${v.uid}`, {
      Authorization: `Bearer ${before}`,
    });
    assert.equal(oldJwt.status, 401);
    assert.match(oldJwt.body.error.message, /before the last password change/);

    // The password change revoked the viewer's API token.
    const revoked = await call(t, "GET", `/api/v3/users/${v.uid}`, v.headers.token);
    assert.equal(revoked.status, 401);
    assert.equal(revoked.body.error.message, "API token revoked");

    // Role changes apply to cached credentials of this process at once.
    assert.equal((await put(admin, { role: "submitter" })).status, 200);
    const asSubmitter = await call(t, "GET", "/api/v3/users", fresh);
    assert.equal(asSubmitter.status, 403);
    assert.match(asSubmitter.body.error.message, /you are submitter/);

    // The only admin cannot be demoted or deactivated.
    const a = t.users.admin;
    const demote = await put(admin, { role: "viewer" }, a.uid);
    assert.equal(demote.status, 409);
    const deact = await call(t, "DELETE", `/api/v3/users/${a.uid}`, admin);
    assert.equal(deact.status, 409);
    const toNonAdmin = await put(admin, { isAdminUser: false }, a.uid);
    assert.equal(toNonAdmin.status, 422, "isAdminUser: false needs a role to go to");
    const dupName = await put(admin, { username: t.users.submitter.username.toUpperCase() });
    assert.equal(dupName.status, 409);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest(
  "API tokens: create (secret once), list without secrets, use, revoke; sourceName by admin",
  async () => {
    const db = await createTestDb("auth_tokens");
    const t = await createTestApp(db, { env: { DHIS2GW_CREDENTIAL_CACHE_TTL: "60" } });
    try {
      const s = t.users.submitter;
      const path = `/api/v3/users/${s.uid}/tokens`;
      const inAYear = new Date(Date.now() + 360 * 86_400_000).toISOString();
      const made = await call(t, "POST", path, s.headers.basic, {
        name: "HMIS bridge",
        expires: inAYear,
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.match(made.body.token, /^d2gw_[A-Za-z0-9]{8}_[A-Za-z0-9]{40}$/);
      assert.equal(made.body.prefix, made.body.token.slice(5, 13));
      assert.equal(made.body.expires, inAYear);
      const [{ n }] = await db.sql`
      select count(*)::int as n from api_tokens where token_hash = ${made.body.token}`;
      assert.equal(n, 0, "the secret itself is not stored");

      const headers = { Authorization: `Token ${made.body.token}` };
      assert.equal((await call(t, "GET", `/api/v3/users/${s.uid}`, headers)).status, 200);

      const listed = await call(t, "GET", path, s.headers.bearer);
      assert.equal(listed.status, 200);
      assert.ok(!JSON.stringify(listed.body).includes(made.body.token));
      const mine = listed.body.items.find((x: { id: number }) => x.id === made.body.id);
      assert.deepEqual(Object.keys(mine).sort(), [
        "created",
        "expires",
        "id",
        "lastUsed",
        "name",
        "prefix",
        "revoked",
        "sourceName",
      ]);
      await t.deps.auth.lastUsed.flush();
      const [{ last_used }] = await db.sql`
      select last_used from api_tokens where id = ${made.body.id}`;
      assert.ok(last_used instanceof Date, "last use is recorded by the buffered writer");

      const noSource = await call(t, "POST", path, s.headers.bearer, {
        name: "x",
        sourceName: "lab",
      });
      assert.equal(noSource.status, 403);
      const past = await call(t, "POST", path, s.headers.bearer, {
        name: "x",
        expires: "2001-01-01T00:00:00Z",
      });
      assert.equal(past.status, 422);
      assert.equal(past.body.error.details[0].field, "expires");
      const others = await call(t, "GET", `/api/v3/users/${t.users.viewer.uid}/tokens`, headers);
      assert.equal(others.status, 403);

      // An admin manages anyone's tokens and sets the token's source.
      const a = t.users.admin.headers.token;
      const lab = await call(t, "POST", path, a, {
        name: "lab",
        sourceName: "lab_b",
        currentPassword: t.users.admin.password,
      });
      assert.equal(lab.status, 201);
      assert.equal(lab.body.sourceName, "lab_b");
      const set = await call(t, "PUT", `${path}/${made.body.id}`, a, { sourceName: "district_a" });
      assert.equal(set.status, 200);
      assert.equal(set.body.sourceName, "district_a");

      // Revoking works at once on this process, though the credential was cached.
      const revoked = await call(t, "DELETE", `${path}/${made.body.id}`, s.headers.bearer);
      assert.equal(revoked.status, 200);
      assert.ok(revoked.body.revoked);
      const refused = await call(t, "GET", `/api/v3/users/${s.uid}`, headers);
      assert.equal(refused.status, 401);
      assert.equal(refused.body.error.message, "API token revoked");
      const missing = await call(t, "DELETE", `${path}/${lab.body.id + 1000}`, a);
      assert.equal(missing.status, 404);
      const wrongOwner = await call(
        t,
        "DELETE",
        `/api/v3/users/${t.users.viewer.uid}/tokens/${lab.body.id}`,
        a,
      );
      assert.equal(wrongOwner.status, 404, "a token id is only found under its own user");

      await db.sql`update api_tokens set expires = now() - interval '1 second'
                 where id = ${lab.body.id}`;
      const expired = await call(t, "GET", `/api/v3/users/${s.uid}`, {
        Authorization: `Token ${lab.body.token}`,
      });
      assert.equal(expired.status, 401);
      assert.equal(expired.body.error.message, "API token expired");
    } finally {
      await t.close();
      await db.close();
    }
  },
);
