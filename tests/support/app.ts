/**
 * The whole app in-process over a test database, with one user per role and ready-made
 * Authorization headers for each, so any domain's tests can call its routes as any role:
 *
 *   const t = await createTestApp(db);
 *   await t.app.request("/api/v3/logs", { headers: t.users.viewer.headers.token });
 *   await t.close();
 */
import { signAccessToken } from "../../src/auth/jwt.ts";
import { hashPassword } from "../../src/auth/password.ts";
import type { Role } from "../../src/auth/principal.ts";
import { insertUser } from "../../src/auth/queries.ts";
import { newApiToken } from "../../src/auth/secrets.ts";
import { AuthService } from "../../src/auth/service.ts";
import { insertApiToken } from "../../src/auth/token_queries.ts";
import { type Config, loadConfig } from "../../src/config/config.ts";
import { generateUid } from "../../src/dhis2/uid.ts";
import { type AppDeps, createApp } from "../../src/http/app.ts";
import { captureLogger } from "../../src/logs/logger.ts";
import type { TestDb } from "./pg.ts";

export interface TestUser {
  id: number;
  uid: string;
  username: string;
  password: string;
  /** The API token's secret (`d2gw_…`) and its row id. */
  apiToken: string;
  apiTokenId: number;
  /** Ready-to-spread header records: `{ headers: user.headers.bearer }`. */
  headers: {
    bearer: Record<string, string>;
    token: Record<string, string>;
    basic: Record<string, string>;
  };
}

export interface TestApp {
  app: ReturnType<typeof createApp>;
  config: Readonly<Config>;
  deps: AppDeps & { auth: AuthService };
  /** Every log line the app wrote, as JSON text. */
  logs: string[];
  /** Slow-down delays the login throttle asked for (tests never really wait). */
  sleeps: number[];
  users: Record<Role, TestUser>;
  /** Flushes buffers (API-token last-use). Does not close the database. */
  close(): Promise<void>;
}

export function basicHeader(username: string, password: string): Record<string, string> {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  return { Authorization: `Basic ${btoa(String.fromCharCode(...bytes))}` };
}

/** A strong random password that passes the policy. */
export function testPassword(): string {
  return `pw-${crypto.randomUUID()}`;
}

/**
 * Creates an active user of `role` with an API token, directly in the database (no HTTP), and
 * returns it with headers for all three schemes. Usernames get a random suffix, so several
 * test apps can share one database.
 */
export async function createTestUser(
  t: { deps: { sql: TestDb["sql"]; auth: AuthService; config: Readonly<Config> } },
  role: Role,
  opts: { sourceName?: string; username?: string } = {},
): Promise<TestUser> {
  const password = testPassword();
  const username = opts.username ?? `${role}_${crypto.randomUUID().slice(0, 8)}`;
  const user = await insertUser(t.deps.sql, {
    uid: generateUid(),
    username,
    password_hash: await hashPassword(password),
    role,
    source_name: opts.sourceName,
  });
  const api = newApiToken();
  const row = await insertApiToken(t.deps.sql, {
    user_id: user.id,
    name: `${role} test token`,
    prefix: api.prefix,
    token_hash: api.hash,
    source_name: null,
    expires: new Date(Date.now() + t.deps.config.auth.token_max_lifetime_days * 86_400_000),
  });
  const { token: jwt } = await signAccessToken(
    t.deps.auth.key,
    { sub: user.uid, username, role },
    t.deps.config.auth.access_token_ttl,
  );
  return {
    id: user.id,
    uid: user.uid,
    username,
    password,
    apiToken: api.token,
    apiTokenId: row.id,
    headers: {
      bearer: { Authorization: `Bearer ${jwt}` },
      token: { Authorization: `Token ${api.token}` },
      basic: basicHeader(username, password),
    },
  };
}

export async function createTestApp(
  db: TestDb,
  opts: { env?: Record<string, string>; fileText?: string } = {},
): Promise<TestApp> {
  const loaded = loadConfig({ env: { ...opts.env }, fileText: opts.fileText });
  if (!loaded.config) throw new Error(`test config: ${loaded.problems.join("; ")}`);
  const config = loaded.config;
  const { log, lines } = captureLogger();
  const sleeps: number[] = [];
  const auth = await AuthService.create({
    sql: db.sql,
    config,
    log,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  });
  const deps = {
    config,
    sql: db.sql,
    log,
    auth,
    readiness: () => Promise.resolve({ ok: true }),
  };
  const base = { deps };
  const [admin, submitter, viewer] = await Promise.all(
    (["admin", "submitter", "viewer"] as const).map((r) => createTestUser(base, r)),
  );
  return {
    app: createApp(deps),
    config,
    deps,
    logs: lines,
    sleeps,
    users: { admin, submitter, viewer },
    close: () => auth.close(),
  };
}
