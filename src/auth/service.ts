/**
 * Who is calling: turns an `Authorization` header into a Principal, and runs password logins
 * and refresh-token rotation. One instance per process, created by the composition root.
 */
import { Buffer } from "node:buffer";
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import { AppError } from "../http/errors.ts";
import type { Logger } from "../logs/logger.ts";
import { CredentialCache } from "./credential_cache.ts";
import { WWW_AUTHENTICATE } from "./guard.ts";
import { AccessTokenError, signAccessToken, verifyAccessToken } from "./jwt.ts";
import { loadJwtKey } from "./keys.ts";
import { LastUsedBuffer } from "./last_used.ts";
import { dummyVerify, hashPassword, needsRehash, verifyPassword } from "./password.ts";
import type { Principal } from "./principal.ts";
import {
  recordLogin,
  rehashPassword,
  userById,
  userByUid,
  userByUsername,
  type UserRow,
} from "./queries.ts";
import { hashToken, newRefreshToken, parseApiToken } from "./secrets.ts";
import { LoginThrottle } from "./throttle.ts";
import {
  clampApiTokenExpiry,
  insertRefreshToken,
  markRefreshUsed,
  refreshTokenForUpdate,
  revokeRefreshFamily,
  tokenCredential,
} from "./token_queries.ts";

export interface AuthOptions {
  sql: Sql;
  config: Readonly<Config>;
  log: Logger;
  /** Slow-down waits; tests pass a recorder instead of really sleeping. */
  sleep?: (ms: number) => Promise<void>;
  lastUsedIntervalMs?: number;
}

export interface Session {
  token: string;
  expires: Date;
  refreshToken: string;
  refreshExpires: Date;
}

interface CacheEntry {
  principal: Principal;
  /** API token or access token expiry, checked on every hit. */
  credentialExpires: Date | null;
}

/**
 * An Authorization header as scheme and value. Swagger UI's API-key box sends what was pasted
 * as is, so a bare token (as it was shown when created) gets its scheme from its shape, and a
 * scheme word typed in front of the one the UI adds (`Bearer Bearer ey…`) is dropped. An API
 * token sent as Bearer is still an API token: the shape, not the word, says which it is.
 */
export function parseAuthorization(header: string): { scheme: string; value: string } {
  const words = header.trim().split(/\s+/);
  if (words.length === 1) {
    const only = words[0];
    if (parseApiToken(only) !== null || LEGACY_TOKEN.test(only)) {
      return { scheme: "token", value: only };
    }
    if (JWT_SHAPE.test(only)) return { scheme: "bearer", value: only };
    return { scheme: only.toLowerCase(), value: "" };
  }
  let scheme = words[0].toLowerCase();
  let rest = words.slice(1);
  while (rest.length > 1 && rest[0].toLowerCase() === scheme) rest = rest.slice(1);
  const value = rest.join(" ");
  if ((scheme === "bearer" || scheme === "token") && parseApiToken(value) !== null) {
    scheme = "token";
  }
  return { scheme, value };
}

/** The old service's 40-hex API tokens, accepted so an imported legacy token keeps working. */
export const LEGACY_TOKEN = /^[0-9a-f]{40}$/;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function unauthorized(message: string): AppError {
  return new AppError("unauthorized", message, {
    headers: { "WWW-Authenticate": WWW_AUTHENTICATE },
  });
}

const INVALID_LOGIN = "invalid username or password";

/** The caller's own password changed between checking it and storing what it allowed. */
export function passwordChangedMeanwhile(): AppError {
  return unauthorized("the password was changed while this request ran; sign in again");
}

/** How recent a login must be to stand in for the password (creating an API token). */
export const RECENT_LOGIN_SECONDS = 300;

/** `Basic base64(user:password)` → parts, or null when malformed (the old service panicked). */
export function parseBasic(value: string): { username: string; password: string } | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return null;
  const text = Buffer.from(value, "base64").toString("utf8");
  const i = text.indexOf(":");
  if (i <= 0) return null;
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

export class AuthService {
  readonly throttle: LoginThrottle;
  readonly lastUsed: LastUsedBuffer;
  #cache: CredentialCache<CacheEntry>;
  #inflight = new Map<string, Promise<CacheEntry>>();
  /** Bumped by every invalidation. */
  #generation = 0;

  private constructor(private opts: AuthOptions, readonly key: Uint8Array) {
    const { sql, config } = opts;
    this.throttle = new LoginThrottle(sql, {
      maxPerUsername: config.auth.login_max_failures,
      maxPerAddress: config.auth.login_max_failures_address,
      windowSeconds: config.auth.login_window,
    }, opts.sleep);
    this.#cache = new CredentialCache(config.auth.credential_cache_ttl * 1000);
    this.lastUsed = new LastUsedBuffer(sql, opts.log, opts.lastUsedIntervalMs);
  }

  static async create(opts: AuthOptions): Promise<AuthService> {
    const maxDays = opts.config.auth.token_max_lifetime_days;
    const shortened = await clampApiTokenExpiry(opts.sql, maxDays);
    if (shortened > 0) {
      opts.log.info("API tokens shortened to auth.token_max_lifetime_days", { shortened, maxDays });
    }
    return new AuthService(opts, await loadJwtKey(opts.sql, opts.config, opts.log));
  }

  /** The caller behind an Authorization header, or a 401/429 AppError. */
  async authenticate(header: string | undefined, address: string): Promise<Principal> {
    if (!header) {
      throw unauthorized(
        "authentication required: send Authorization: Bearer <access token>, Token <API token> or Basic",
      );
    }
    const { scheme, value } = parseAuthorization(header);
    if (!value) throw unauthorized("the Authorization header has no credentials");
    const cacheKey = hashToken(`${scheme} ${value}`);
    const hit = this.#cache.get(cacheKey);
    if (hit) return this.#checkCached(hit);

    // Single flight: a client opening 32 connections at once with the same Basic header must
    // cost one scrypt, not 32 (they run one after another here: ~74 ms each, 2.4 s in all).
    const generation = this.#generation;
    let pending = this.#inflight.get(cacheKey);
    if (!pending) {
      pending = this.#resolve(scheme, value, address).finally(() => {
        this.#inflight.delete(cacheKey);
      });
      this.#inflight.set(cacheKey, pending);
    }
    const entry = await pending;
    // A revoke or password change that landed while this was resolved must not be undone by
    // caching the answer read before it.
    if (generation === this.#generation) this.#cache.set(cacheKey, entry);
    return this.#checkCached(entry);
  }

  #resolve(scheme: string, value: string, address: string): Promise<CacheEntry> {
    if (scheme === "bearer" || (scheme === "token" && JWT_SHAPE.test(value))) {
      // Old clients that got a token from getToken send it back as `Token`; it is a JWT now.
      return this.#bearer(value);
    }
    if (scheme === "token") return this.#apiToken(value);
    if (scheme === "basic") return this.#basic(value, address);
    return Promise.reject(
      unauthorized("unsupported authorization scheme; use Bearer, Token or Basic"),
    );
  }

  #checkCached(e: CacheEntry): Principal {
    if (e.credentialExpires && e.credentialExpires.getTime() <= Date.now()) {
      throw unauthorized(e.principal.via === "token" ? "API token expired" : "credentials expired");
    }
    if (e.principal.tokenId !== undefined) this.lastUsed.touch(e.principal.tokenId);
    return e.principal;
  }

  async #bearer(jwt: string): Promise<CacheEntry> {
    let claims;
    try {
      claims = await verifyAccessToken(this.key, jwt);
    } catch (err) {
      if (err instanceof AccessTokenError) {
        throw unauthorized(
          err.reason === "expired"
            ? "access token expired; get a new one with POST /api/v3/users/refreshToken"
            : "access token invalid",
        );
      }
      throw err;
    }
    const user = await userByUid(this.opts.sql, claims.sub);
    if (!user) throw unauthorized("access token invalid");
    if (!user.is_active) throw unauthorized("this account is deactivated");
    // Tokens from before the counter (issue 10) have no `gen`: the old whole-second check
    // stands in for them until they expire (auth.access_token_ttl after the upgrade).
    const stale = claims.gen === undefined
      ? claims.iat < Math.floor(user.password_changed.getTime() / 1000)
      : claims.gen !== user.token_generation;
    if (stale) throw unauthorized("access token was issued before the last password change");
    // Role and source come from the row, not the claims: a demotion applies within the cache TTL.
    return {
      principal: principalOf(user, "bearer", claims.authTime),
      credentialExpires: new Date(claims.exp * 1000),
    };
  }

  async #apiToken(value: string): Promise<CacheEntry> {
    if (parseApiToken(value) === null && !LEGACY_TOKEN.test(value)) {
      throw unauthorized("API token invalid");
    }
    const row = await tokenCredential(this.opts.sql, hashToken(value));
    if (!row) throw unauthorized("API token invalid");
    if (row.token_revoked_at) throw unauthorized("API token revoked");
    if (row.token_expires.getTime() <= Date.now()) {
      throw unauthorized("API token expired");
    }
    if (!row.is_active) throw unauthorized("this account is deactivated");
    return {
      principal: Object.freeze({
        userId: row.user_id,
        uid: row.uid,
        username: row.username,
        role: row.role,
        sourceName: row.token_source_name ?? row.source_name,
        via: "token" as const,
        tokenId: row.token_id,
        generation: row.token_generation,
      }),
      credentialExpires: row.token_expires,
    };
  }

  async #basic(value: string, address: string): Promise<CacheEntry> {
    const creds = parseBasic(value);
    if (!creds) throw unauthorized("malformed Basic credentials");
    const user = await this.checkPassword(creds.username, creds.password, address, "basic");
    if (!user.is_active) throw unauthorized("this account is deactivated");
    // A cache miss is at most one per credential per TTL, so this write stays off the hot path.
    await recordLogin(this.opts.sql, user.id, true);
    return { principal: principalOf(user, "basic"), credentialExpires: null };
  }

  /**
   * Verifies a username and password with brute-force throttling: 429 while throttled, 401 for
   * a wrong password, the user row otherwise (active or not: the caller decides).
   */
  async checkPassword(
    username: string,
    password: string,
    address: string,
    via: "basic" | "login",
  ): Promise<UserRow> {
    const { sql, log } = this.opts;
    // No account has control characters in its name, and PostgreSQL text cannot hold NUL (a
    // query with one fails): refused before anything is reserved or looked up.
    // deno-lint-ignore no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(username)) throw unauthorized(INVALID_LOGIN);
    const user = await this.throttle.guard(username, address, async () => {
      const found = await userByUsername(sql, username);
      // Unknown usernames cost the same scrypt time, so timing does not reveal which exist.
      const ok = found
        ? await verifyPassword(password, found.password_hash)
        : await dummyVerify(password);
      if (found && ok) return found;
      if (found) await recordLogin(sql, found.id, false);
      // Never the username: people type their password into that field.
      log.warn("failed login", { via, userUid: found?.uid, address });
      return null;
    });
    if (!user) throw unauthorized(INVALID_LOGIN);
    if (needsRehash(user.password_hash)) {
      await rehashPassword(sql, user.id, user.password_hash, await hashPassword(password));
    }
    return user;
  }

  /**
   * Step-up for actions that outlive the session (creating an API token): the caller proves
   * they know the password, by a Basic header, a login less than RECENT_LOGIN_SECONDS ago, or
   * `currentPassword` (checked against the caller's own account, throttled like a login).
   * A 422 naming `currentPassword` otherwise. Returns the user's `token_generation` the proof
   * holds for: what the caller compares under lockUserCredentials before storing a token.
   */
  async confirmPassword(
    principal: Principal,
    currentPassword: string | undefined,
    address: string,
  ): Promise<number> {
    const nowS = Date.now() / 1000;
    if (principal.via === "basic") return principal.generation;
    if (
      principal.authTime !== undefined && nowS - principal.authTime < RECENT_LOGIN_SECONDS &&
      currentPassword === undefined
    ) return principal.generation;
    if (currentPassword === undefined) {
      throw new AppError("validation_failed", "currentPassword is required", {
        details: [{
          field: "currentPassword",
          message: `is required unless you logged in less than ${
            RECENT_LOGIN_SECONDS / 60
          } minutes ago`,
        }],
      });
    }
    const user = await userById(this.opts.sql, principal.userId);
    const right = user && await this.throttle.guard(
      user.username,
      address,
      async () => await verifyPassword(currentPassword, user.password_hash) ? true : null,
    );
    if (!right) {
      throw new AppError("validation_failed", "currentPassword is wrong", {
        details: [{ field: "currentPassword", message: "does not match" }],
      });
    }
    return user.token_generation;
  }

  /** getToken: a password login that starts a new refresh-token family. */
  async login(username: string, password: string, address: string): Promise<Session> {
    const user = await this.checkPassword(username, password, address, "login");
    if (!user.is_active) throw unauthorized("this account is deactivated");
    await recordLogin(this.opts.sql, user.id, true);
    this.opts.log.info("login", { userUid: user.uid, address });
    return await this.#issue(this.opts.sql, user, crypto.randomUUID(), new Date());
  }

  /**
   * Rotation: the presented refresh token is marked used and a new pair issued in its family.
   * A used token presented again was copied (or the client raced itself): the whole family is
   * revoked, so whoever holds the newer token must log in again too.
   */
  async refresh(refreshToken: string): Promise<Session> {
    const { sql, log } = this.opts;
    const outcome = await sql.begin(async (tx) => {
      const row = await refreshTokenForUpdate(tx, hashToken(refreshToken));
      if (!row) return { error: "refresh token invalid" };
      if (row.revoked_at) return { error: "refresh token revoked" };
      if (row.used_at) {
        const n = await revokeRefreshFamily(tx, row.family_id);
        log.warn("refresh token reused; revoked its whole family", {
          userId: row.user_id,
          familyId: row.family_id,
          revoked: n,
        });
        return { error: "refresh token already used; every session of this login is revoked" };
      }
      if (row.expires.getTime() <= Date.now()) return { error: "refresh token expired" };
      const user = await userById(tx, row.user_id);
      if (!user?.is_active) return { error: "this account is deactivated" };
      // Issued before the user's last password change, reset or deactivation (a refresh or
      // login that raced it and slipped past its revocation): that session is over.
      if (row.token_generation !== null && row.token_generation !== user.token_generation) {
        await revokeRefreshFamily(tx, row.family_id);
        return { error: "refresh token revoked" };
      }
      await markRefreshUsed(tx, row.id);
      return { session: await this.#issue(tx, user, row.family_id, row.auth_time) };
    });
    if (!outcome.session) throw unauthorized(outcome.error!);
    return outcome.session;
  }

  /**
   * Sign-out: revokes the presented refresh token's whole family (this login and every pair
   * refreshed from it), if it belongs to `userId`. Returns how many tokens were revoked; 0 for
   * an unknown token or someone else's (the caller learns nothing about it). The access token
   * itself stays valid until it expires (at most auth.access_token_ttl): it is never stored.
   */
  async logout(userId: number, refreshToken: string): Promise<number> {
    const { sql, log } = this.opts;
    const revoked = await sql.begin(async (tx) => {
      const row = await refreshTokenForUpdate(tx, hashToken(refreshToken));
      if (!row || row.user_id !== userId) return 0;
      return await revokeRefreshFamily(tx, row.family_id);
    });
    log.info("logout", { userId, revoked });
    return revoked;
  }

  async #issue(
    sql: Parameters<typeof insertRefreshToken>[0],
    user: UserRow,
    familyId: string,
    authTime: Date | null,
  ) {
    const { config } = this.opts;
    const access = await signAccessToken(
      this.key,
      {
        sub: user.uid,
        username: user.username,
        role: user.role,
        gen: user.token_generation,
        authTime: authTime ? Math.floor(authTime.getTime() / 1000) : undefined,
      },
      config.auth.access_token_ttl,
    );
    const refresh = newRefreshToken();
    const refreshExpires = new Date(Date.now() + config.auth.refresh_token_ttl * 1000);
    await insertRefreshToken(sql, {
      user_id: user.id,
      family_id: familyId,
      token_hash: refresh.hash,
      expires: refreshExpires,
      auth_time: authTime,
      token_generation: user.token_generation,
    });
    return {
      token: access.token,
      expires: access.expiresAt,
      refreshToken: refresh.token,
      refreshExpires,
    };
  }

  /** After a change to a user (role, source, password, active flag) made by this process. */
  forgetUser(userId: number): void {
    this.#generation++;
    this.#inflight.clear();
    this.#cache.forgetUser(userId);
  }

  forgetToken(tokenId: number): void {
    this.#generation++;
    this.#inflight.clear();
    this.#cache.forgetToken(tokenId);
  }

  async close(): Promise<void> {
    await this.lastUsed.close();
  }
}

export function principalOf(
  user: UserRow,
  via: Principal["via"],
  authTime?: number,
): Principal {
  return Object.freeze({
    userId: user.id,
    uid: user.uid,
    username: user.username,
    role: user.role,
    sourceName: user.source_name,
    via,
    generation: user.token_generation,
    ...(authTime === undefined ? {} : { authTime }),
  });
}
