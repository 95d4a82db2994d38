/**
 * A password reset ends every API token of the user, including one whose creation raced it.
 * The interleaving is forced, not hoped for: a second connection holds the login-throttle table
 * locked, so the creation stops after it read the old password hash and before it stores the
 * token; the reset commits meanwhile; then the lock is let go.
 */
import assert from "node:assert/strict";
import { connect, type Sql } from "../src/db/db.ts";
import { createTestApp, type TestApp, testPassword } from "./support/app.ts";
import { createTestDb, dbTest, type TestDb } from "./support/pg.ts";

async function call(
  t: TestApp,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: unknown,
) {
  const res = await t.app.request(path, {
    method,
    headers: { ...headers, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Holds `lock table login_throttle` on its own connection until `release()`. */
async function holdThrottleLock(db: TestDb) {
  const holder: Sql = connect({ url: db.url, max: 1 });
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const done = holder.begin(async (tx) => {
    await tx`lock table login_throttle in share mode`;
    locked();
    await released;
  });
  await isLocked;
  return {
    release: async () => {
      release();
      await done;
      await holder.end();
    },
  };
}

/** Resolves once some backend of this database waits for a lock (the request is parked). */
async function someoneWaits(sql: Sql): Promise<void> {
  for (;;) {
    const [r] = await sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`;
    if (r.n > 0) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Starts `create` with the throttle table locked, resets the submitter's password while it is
 * parked, lets it go and returns its answer and the submitter's live tokens named `name`.
 */
async function raceReset(
  db: TestDb,
  t: TestApp,
  name: string,
  create: () => Promise<{ status: number; body: Record<string, unknown> }>,
) {
  const s = t.users.submitter;
  const lock = await holdThrottleLock(db);
  const creating = create();
  await someoneWaits(db.sql);
  const reset = await call(t, "PUT", `/api/v3/users/${s.uid}`, t.users.admin.headers.token, {
    password: testPassword(),
  });
  assert.equal(reset.status, 200, JSON.stringify(reset.body));
  await lock.release();
  const created = await creating;
  const live = await db.sql<{ id: number }[]>`
    select id from api_tokens
    where user_id = ${s.id} and revoked_at is null and name = ${name}`;
  return { created, live: live.length };
}

dbTest("an API token created while the password is reset does not survive the reset", async () => {
  const db = await createTestDb("token_reset_race");
  const t = await createTestApp(db);
  try {
    const s = t.users.submitter;
    const { created, live } = await raceReset(
      db,
      t,
      "raced",
      () =>
        call(t, "POST", `/api/v3/users/${s.uid}/tokens`, s.headers.bearer, {
          name: "raced",
          currentPassword: s.password,
        }),
    );
    assert.equal(created.status, 401, JSON.stringify(created.body));
    assert.equal(
      (created.body.error as { message: string }).message,
      "the password was changed while this request ran; sign in again",
    );
    assert.equal(live, 0);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("a getToken (/api/v2) token issued while the password is reset is refused", async () => {
  const db = await createTestDb("gettoken_reset_race");
  const t = await createTestApp(db);
  try {
    const s = t.users.submitter;
    const { created, live } = await raceReset(
      db,
      t,
      "getToken (/api/v2)",
      () =>
        call(t, "POST", "/api/v2/users/getToken", s.headers.bearer, {
          currentPassword: s.password,
        }),
    );
    assert.equal(created.status, 401, JSON.stringify(created.body));
    assert.equal(live, 0);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("an admin's token for a user whose password is reset meanwhile is refused", async () => {
  const db = await createTestDb("token_reset_race_admin");
  const t = await createTestApp(db);
  try {
    const s = t.users.submitter;
    const a = t.users.admin;
    const { created, live } = await raceReset(
      db,
      t,
      "by admin",
      () =>
        call(t, "POST", `/api/v3/users/${s.uid}/tokens`, a.headers.token, {
          name: "by admin",
          currentPassword: a.password,
        }),
    );
    assert.equal(created.status, 409, JSON.stringify(created.body));
    assert.equal(live, 0);
    // Asked again after the reset, it is made.
    const again = await call(t, "POST", `/api/v3/users/${s.uid}/tokens`, a.headers.token, {
      name: "by admin",
      currentPassword: a.password,
    });
    assert.equal(again.status, 201, JSON.stringify(again.body));
  } finally {
    await t.close();
    await db.close();
  }
});
