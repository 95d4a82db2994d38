/**
 * The login limits under concurrency: parallel attempts through the app, over a pool of several
 * real connections, and the interleavings of a correct password with wrong ones in flight.
 */
import assert from "node:assert/strict";
import { LoginThrottle } from "../src/auth/throttle.ts";
import { connect } from "../src/db/db.ts";
import type { AppError } from "../src/http/errors.ts";
import { basicHeader, createTestApp, type TestApp } from "./support/app.ts";
import { createTestDb, dbTest, type TestDb } from "./support/pg.ts";

const login = (t: TestApp, username: string, password: string, address: string) =>
  t.app.request("/api/v3/users/getToken", {
    method: "POST",
    headers: { ...basicHeader(username, password), "X-Forwarded-For": address },
  });

const tally = (statuses: number[]) => {
  const out: Record<number, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
};

const failedLogins = (t: TestApp) => t.logs.filter((l) => l.includes('"failed login"')).length;

dbTest(
  "20 parallel logins for one username: 5 password checks, the right password past them is refused",
  async () => {
    const db = await createTestDb("throttle_race_user");
    const t = await createTestApp(db, {
      env: { DHIS2GW_LOGIN_MAX_FAILURES: "5", DHIS2GW_LOGIN_MAX_FAILURES_ADDRESS: "1000" },
    });
    try {
      const v = t.users.viewer;
      // All sent at once, each from its own address, the right password last. The pool has 10
      // connections, so the reservations really race in PostgreSQL.
      const results = await Promise.all(
        Array.from(
          { length: 20 },
          (_, i) =>
            login(t, v.username, i === 19 ? v.password : `wrong-pass-${i}`, `198.51.100.${i}`),
        ),
      );
      const statuses = results.map((r) => r.status);
      assert.deepEqual(tally(statuses), { 401: 5, 429: 15 }, statuses.join(","));
      assert.equal(statuses[19], 429, "the right password arrived past the limit");
      assert.ok(Number(results[19].headers.get("retry-after")) >= 1);
      assert.equal(failedLogins(t), 5, "exactly 5 passwords were checked");
      const [row] = await db.sql`select failures from login_throttle where kind = 'username'`;
      assert.equal(row.failures, 5);
      // Now locked for the window, right password or not.
      const after = await login(t, v.username, v.password, "198.51.100.200");
      assert.equal(after.status, 429);
      assert.ok(Number(after.headers.get("retry-after")) > 800);
    } finally {
      await t.close();
      await db.close();
    }
  },
);

dbTest("two replicas with their own pools share the limit", async () => {
  const db = await createTestDb("throttle_race_replicas");
  const env = { DHIS2GW_LOGIN_MAX_FAILURES: "5", DHIS2GW_LOGIN_MAX_FAILURES_ADDRESS: "1000" };
  const other = connect({ url: db.url, max: 10 });
  const a = await createTestApp(db, { env });
  const b = await createTestApp({ ...db, sql: other }, { env });
  try {
    const v = a.users.viewer;
    const results = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => login(i % 2 ? b : a, v.username, `wrong-pass-${i}`, `198.51.100.${i}`),
      ),
    );
    assert.deepEqual(tally(results.map((r) => r.status)), { 401: 5, 429: 15 });
    assert.equal(failedLogins(a) + failedLogins(b), 5);
  } finally {
    await a.close();
    await b.close();
    await other.end();
    await db.close();
  }
});

dbTest(
  "20 parallel logins from one address: 4 password checks, the right one past them is refused",
  async () => {
    const db = await createTestDb("throttle_race_addr");
    const t = await createTestApp(db, {
      env: { DHIS2GW_LOGIN_MAX_FAILURES: "100", DHIS2GW_LOGIN_MAX_FAILURES_ADDRESS: "4" },
    });
    try {
      const s = t.users.submitter;
      const addr = "203.0.113.50";
      const results = await Promise.all(
        Array.from(
          { length: 20 },
          (_, i) =>
            i === 19
              ? login(t, s.username, s.password, addr)
              : login(t, `guess_${i}`, "some-password-1", addr),
        ),
      );
      const statuses = results.map((r) => r.status);
      assert.deepEqual(tally(statuses), { 401: 4, 429: 16 }, statuses.join(","));
      assert.equal(statuses[19], 429);
      assert.equal(failedLogins(t), 4);
      const [row] = await db.sql`select failures from login_throttle where kind = 'address'`;
      assert.equal(row.failures, 4);
      // The same user from another address is not affected.
      assert.equal((await login(t, s.username, s.password, "203.0.113.51")).status, 201);
    } finally {
      await t.close();
      await db.close();
    }
  },
);

dbTest("52 parallel failures from one address: 50 get 401, the other 2 get 429", async () => {
  // The report's case, at the default limits.
  const db = await createTestDb("throttle_race_52");
  const t = await createTestApp(db);
  try {
    const results = await Promise.all(
      Array.from(
        { length: 52 },
        (_, i) => login(t, `guess_${i}`, "some-password-1", "203.0.113.52"),
      ),
    );
    assert.deepEqual(tally(results.map((r) => r.status)), { 401: 50, 429: 2 });
  } finally {
    await t.close();
    await db.close();
  }
});

const noSleep = () => Promise.resolve();

/** Rejects with a 429 whose Retry-After satisfies `retry`. */
const refused = (p: Promise<unknown>, retry: (seconds: number) => boolean) =>
  assert.rejects(p, (err: AppError) => {
    assert.equal(err.status, 429);
    const seconds = Number(err.headers["Retry-After"]);
    assert.ok(retry(seconds), `Retry-After ${seconds}`);
    return true;
  });

const counters = async (db: TestDb) =>
  (await db.sql`select kind, failures, pending from login_throttle order by kind, failures`)
    .map((r) => `${r.kind} ${r.failures}/${r.pending}`);

dbTest("a correct password racing wrong ones forgives only the failures before it", async () => {
  const db = await createTestDb("throttle_race_success");
  const throttle = new LoginThrottle(db.sql, {
    maxPerUsername: 3,
    maxPerAddress: 100,
    windowSeconds: 600,
  }, noSleep);
  const user = "alice";
  const userRow = async () =>
    (await counters(db)).filter((r) => r.startsWith("username")).join(", ");
  try {
    await (await throttle.begin(user, "192.0.2.1")).failed();
    const wrongInFlight = await throttle.begin(user, "192.0.2.2");
    const right = await throttle.begin(user, "192.0.2.3");
    assert.equal(await userRow(), "username 1/2", "1 failure, 2 attempts in flight");
    // 1 + 2 in flight = the limit of 3: a fourth waits, but only a second, since the two in
    // flight may yet succeed.
    await refused(throttle.begin(user, "192.0.2.4"), (s) => s === 1);
    assert.equal(await userRow(), "username 1/2", "the refused attempt reserved nothing");

    await right.succeeded();
    assert.equal(await userRow(), "username 0/1", "the earlier failure is forgiven, not the other");
    await wrongInFlight.failed();
    assert.equal(await userRow(), "username 1/0", "it failed after the success: it counts");

    const a = await throttle.begin(user, "192.0.2.5");
    const b = await throttle.begin(user, "192.0.2.6");
    await refused(throttle.begin(user, "192.0.2.7"), (s) => s === 1);
    await a.failed();
    await b.failed();
    await refused(throttle.begin(user, "192.0.2.8"), (s) => s > 590 && s <= 600);
    // A success with nothing else in flight removes the row, as before.
    await db.sql`update login_throttle set window_start = now() - interval '601 seconds'`;
    await (await throttle.begin(user, "192.0.2.9")).succeeded();
    assert.equal(await userRow(), "");
  } finally {
    await db.close();
  }
});

dbTest(
  "successful logins give back their address slot; an attempt refused on one counter leaves the other alone",
  async () => {
    const db = await createTestDb("throttle_race_release");
    const t = await createTestApp(db, {
      env: { DHIS2GW_LOGIN_MAX_FAILURES: "2", DHIS2GW_LOGIN_MAX_FAILURES_ADDRESS: "3" },
    });
    try {
      const { viewer, submitter, admin } = t.users;
      const office = "203.0.113.60";
      // Three users in parallel, twice: six successes, although the address allows 3 failures.
      for (let round = 0; round < 2; round++) {
        const results = await Promise.all(
          [viewer, submitter, admin].map((u) => login(t, u.username, u.password, office)),
        );
        assert.deepEqual(results.map((r) => r.status), [201, 201, 201]);
      }
      assert.deepEqual(await counters(db), ["address 0/0"]);

      // Lock the viewer from elsewhere, then hammer it from the office: 429s only, and the
      // office's counter does not move (no password was checked there).
      for (let i = 0; i < 2; i++) {
        assert.equal(
          (await login(t, viewer.username, `wrong-pass-${i}`, `198.51.100.${i}`)).status,
          401,
        );
      }
      const hammer = await Promise.all(
        Array.from({ length: 10 }, () => login(t, viewer.username, "guess-pass-1", office)),
      );
      assert.deepEqual(tally(hammer.map((r) => r.status)), { 429: 10 });
      const [row] = await db.sql`select failures, pending from login_throttle
                                where kind = 'address' and failures = 0`;
      assert.deepEqual({ ...row }, { failures: 0, pending: 0 });
      assert.equal((await login(t, submitter.username, submitter.password, office)).status, 201);
    } finally {
      await t.close();
      await db.close();
    }
  },
);

dbTest(
  "a reservation left by a process that died mid-login stops counting after a minute",
  async () => {
    const db = await createTestDb("throttle_race_stale");
    const throttle = new LoginThrottle(db.sql, {
      maxPerUsername: 2,
      maxPerAddress: 100,
      windowSeconds: 600,
    }, noSleep);
    try {
      // Two reservations whose outcome never comes.
      await throttle.begin("bob", "192.0.2.1");
      await throttle.begin("bob", "192.0.2.2");
      await refused(throttle.begin("bob", "192.0.2.3"), (s) => s === 1);
      await db.sql`update login_throttle set pending_until = now() - interval '1 second'`;
      const fresh = await throttle.begin("bob", "192.0.2.3");
      await fresh.failed();
      assert.deepEqual(
        (await counters(db)).filter((r) => r.startsWith("username")),
        ["username 1/0"],
      );
    } finally {
      await db.close();
    }
  },
);

dbTest(
  "a leaked reservation expires on time even while the key keeps getting logins",
  async () => {
    const db = await createTestDb("throttle_race_leak");
    const throttle = new LoginThrottle(db.sql, {
      maxPerUsername: 3,
      maxPerAddress: 100,
      windowSeconds: 600,
    }, noSleep);
    try {
      await throttle.begin("carol", "192.0.2.9"); // never settled
      // Logins keep coming; each must not push the leaked one's expiry on.
      for (let i = 0; i < 3; i++) {
        await db
          .sql`update login_throttle set pending_until = pending_until - interval '25 seconds'`;
        await (await throttle.begin("carol", `192.0.2.${10 + i}`)).succeeded();
      }
      const [row] = await db.sql`
        select pending from login_throttle where kind = 'username'`;
      assert.ok(!row || row.pending === 0, `the leaked reservation still counts: ${row?.pending}`);
    } finally {
      await db.close();
    }
  },
);

dbTest(
  "a login that throws releases its reservation; a NUL in the name is a plain 401",
  async () => {
    const db = await createTestDb("throttle_race_throw");
    const t = await createTestApp(db, {
      env: { DHIS2GW_LOGIN_MAX_FAILURES: "2", DHIS2GW_LOGIN_MAX_FAILURES_ADDRESS: "2" },
    });
    try {
      for (let i = 0; i < 5; i++) {
        const res = await login(t, "bad\u0000name", "some-password-1", "203.0.113.77");
        assert.equal(res.status, 401);
        await res.body?.cancel();
      }
      // Nothing was reserved, so a real login from that address still works.
      const s = t.users.submitter;
      assert.equal((await login(t, s.username, s.password, "203.0.113.77")).status, 201);
      // A check that throws after the reservation (here: the attempt is abandoned) frees it.
      const attempt = await t.deps.auth.throttle.begin("dave", "203.0.113.78");
      await attempt.abandon();
      await attempt.abandon(); // settled: a no-op
      const rows = await db.sql`select pending from login_throttle where pending > 0`;
      assert.deepEqual([...rows], []);
    } finally {
      await t.close();
      await db.close();
    }
  },
);

dbTest(
  "changing your own password: a wrong currentPassword is a failed login, a right one is released",
  async () => {
    const db = await createTestDb("throttle_race_current");
    const t = await createTestApp(db, {
      env: { DHIS2GW_LOGIN_MAX_FAILURES: "2", DHIS2GW_LOGIN_MAX_FAILURES_ADDRESS: "100" },
    });
    try {
      const v = t.users.viewer;
      // Signed in with Basic and the password of the moment: a password change ends access
      // tokens and API tokens issued before it. Basic is checked once, then cached.
      const put = (signIn: string, currentPassword: string, password: string) =>
        t.app.request(`/api/v3/users/${v.uid}`, {
          method: "PUT",
          headers: { ...basicHeader(v.username, signIn), "Content-Type": "application/json" },
          body: JSON.stringify({ password, currentPassword }),
        });
      const [first, second, third] = [
        "a brand new passphrase",
        "another new passphrase",
        "yet another passphrase",
      ];
      // Right current passwords (one new password too weak) leave no reservation behind.
      assert.equal((await put(v.password, v.password, "short")).status, 422);
      assert.equal((await put(v.password, v.password, first)).status, 200);
      assert.equal((await put(first, first, second)).status, 200);
      assert.deepEqual((await counters(db)).filter((r) => r.startsWith("username")), []);
      assert.equal((await put(second, "wrong-pass-1", third)).status, 422);
      assert.equal((await put(second, "wrong-pass-2", third)).status, 422);
      assert.equal((await put(second, second, third)).status, 429);
    } finally {
      await t.close();
      await db.close();
    }
  },
);
