import assert from "node:assert/strict";
import { slowDownMs } from "../src/auth/throttle.ts";
import { basicHeader, createTestApp, type TestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

Deno.test("slow-down delays: none for a first typo, doubling, capped at 4 s", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 50].map(slowDownMs),
    [0, 250, 500, 1000, 2000, 4000, 4000, 4000],
  );
});

const login = (t: TestApp, username: string, password: string, address = "203.0.113.7") =>
  t.app.request("/api/v3/users/getToken", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Forwarded-For": address },
    body: JSON.stringify({ username, password }),
  });

dbTest(
  "failed logins per username slow down, then 429 with Retry-After, across a restart",
  async () => {
    const db = await createTestDb("auth_throttle_user");
    const env = { DHIS2GW_LOGIN_MAX_FAILURES: "3", DHIS2GW_LOGIN_WINDOW: "600" };
    const t = await createTestApp(db, { env });
    try {
      const v = t.users.viewer;
      // Failures come from different addresses, so only the username counter can trip.
      const statuses = [];
      for (let i = 0; i < 3; i++) {
        statuses.push((await login(t, v.username, `wrong-pass-${i}`, `198.51.100.${i}`)).status);
      }
      assert.deepEqual(statuses, [401, 401, 401]);
      assert.deepEqual(t.sleeps, [250, 500], "the 2nd and 3rd failure were slowed down");

      const locked = await login(t, v.username, v.password, "198.51.100.99");
      assert.equal(locked.status, 429, "even the right password waits out the lock-out");
      const retry = Number(locked.headers.get("retry-after"));
      assert.ok(retry > 590 && retry <= 600, `Retry-After ${retry}`);
      const body = await locked.json();
      assert.equal(body.error.code, "too_many_requests");
      // Basic on any route is a password login too, and is locked the same way.
      const basic = await t.app.request("/api/v3/users", {
        headers: { ...basicHeader(v.username, v.password), "X-Forwarded-For": "198.51.100.98" },
      });
      assert.equal(basic.status, 429);
      assert.ok(basic.headers.get("retry-after"));
      // Other users are not affected.
      assert.equal((await login(t, t.users.admin.username, t.users.admin.password)).status, 201);

      // A new process over the same database (a restart) still refuses.
      const restarted = await createTestApp(db, { env });
      try {
        assert.equal((await login(restarted, v.username, v.password, "198.51.100.97")).status, 429);
      } finally {
        await restarted.close();
      }

      // Once the window is over, the right password works and clears the counter.
      await db.sql`update login_throttle set window_start = now() - interval '601 seconds'`;
      assert.equal((await login(t, v.username, v.password)).status, 201);
      const [{ n }] = await db.sql`select count(*)::int as n from login_throttle
                                 where kind = 'username'`;
      assert.equal(n, 0);
    } finally {
      await t.close();
      await db.close();
    }
  },
);

dbTest("failed logins from one address trip its own, higher limit for any username", async () => {
  const db = await createTestDb("auth_throttle_addr");
  const t = await createTestApp(db, {
    env: { DHIS2GW_LOGIN_MAX_FAILURES: "100", DHIS2GW_LOGIN_MAX_FAILURES_ADDRESS: "4" },
  });
  try {
    const addr = "192.0.2.50";
    for (let i = 0; i < 4; i++) {
      assert.equal((await login(t, `guess_${i}`, "some-password-1", addr)).status, 401);
    }
    const fifth = await login(t, t.users.submitter.username, t.users.submitter.password, addr);
    assert.equal(fifth.status, 429);
    // The same user from elsewhere is fine: the address, not the account, is throttled.
    const elsewhere = await login(t, t.users.submitter.username, t.users.submitter.password);
    assert.equal(elsewhere.status, 201);
    // Counters are keyed by hashes: no guessed username is stored in clear.
    const keys = await db.sql`select key from login_throttle`;
    for (const { key } of keys) assert.match(key, /^[0-9a-f]{64}$/);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest(
  "a client connecting directly cannot dodge the address limit with X-Forwarded-For",
  async () => {
    const db = await createTestDb("auth_throttle_xff");
    const t = await createTestApp(db, {
      env: {
        DHIS2GW_LOGIN_MAX_FAILURES: "100",
        DHIS2GW_LOGIN_MAX_FAILURES_ADDRESS: "2",
        DHIS2GW_TRUSTED_PROXIES: "127.0.0.0/8,::1,10.0.0.0/24",
      },
    });
    try {
      // The third argument is what Deno.serve hands the app: the socket's peer address.
      const from = (hostname: string) => ({
        remoteAddr: { transport: "tcp", hostname, port: 5555 },
      });
      const attempt = (peer: string, forwarded: string, i: number) =>
        t.app.request("/api/v3/users/getToken", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Forwarded-For": forwarded },
          body: JSON.stringify({ username: `guess_${i}`, password: "some-password-1" }),
        }, from(peer));
      assert.equal((await attempt("203.0.113.9", "10.9.9.1", 1)).status, 401);
      assert.equal((await attempt("203.0.113.9", "10.9.9.2", 2)).status, 401);
      assert.equal((await attempt("203.0.113.9", "10.9.9.3", 3)).status, 429, "forged, ignored");
      // A client on the LAN, connecting directly from a private address that is not a trusted
      // proxy, cannot pick its address either.
      assert.equal((await attempt("192.168.1.20", "10.9.9.4", 4)).status, 401);
      assert.equal((await attempt("192.168.1.20", "10.9.9.5", 5)).status, 401);
      assert.equal((await attempt("192.168.1.20", "10.9.9.6", 6)).status, 429, "LAN peer");
      // Behind a trusted proxy, the entry that proxy appended counts, not the client's own.
      assert.equal((await attempt("10.0.0.2", "203.0.113.9, 198.51.100.77", 7)).status, 401);
      assert.equal((await attempt("10.0.0.2", "203.0.113.9, 198.51.100.77", 8)).status, 401);
      // Two trusted hops (an Istio sidecar on 127.0.0.6 behind an ingress pod in 10.0.0.0/24):
      // the walk skips the ingress and finds the same client, now at its limit.
      const chain = await attempt("127.0.0.6", "203.0.113.1, 198.51.100.77, 10.0.0.9", 9);
      assert.equal(chain.status, 429, "198.51.100.77 has its own counter, now full");
      // The same proxy, another client: its own counter.
      assert.equal((await attempt("10.0.0.2", "198.51.100.78", 10)).status, 401);
    } finally {
      await t.close();
      await db.close();
    }
  },
);
