/**
 * Short-lived access tokens for the admin UI and API users: HS256 JWTs signed with one
 * server-side key. Long-lived sessions use opaque refresh tokens (`secrets.ts`), which the
 * database can revoke; an access token is only checked here, so keep its lifetime short.
 */
import { errors, jwtVerify, SignJWT } from "jose";

export const ISSUER = "dhis2gw";
const ALG = "HS256";
/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output, 256 bits. */
export const MIN_KEY_BYTES = 32;

export interface AccessClaimsInput {
  /** The user's uid. */
  sub: string;
  username: string;
  role: string;
  /**
   * The user's token generation (users.token_generation) when the token was issued. A password
   * change bumps it, which retires every earlier token whatever second it was issued in.
   */
  gen?: number;
  /** When the password was last checked (a login), in seconds: OIDC's `auth_time`. */
  authTime?: number;
}

export interface AccessClaims {
  sub: string;
  username: string;
  role: string;
  /** Absent in tokens issued before the counter existed (issue 10). */
  gen?: number;
  authTime?: number;
  iss: typeof ISSUER;
  iat: number;
  exp: number;
  jti: string;
}

/**
 * Why a token was refused. Only `expired` is worth telling a client apart (so it refreshes
 * instead of logging out); everything else is `invalid`, with the jose error code kept for logs.
 */
export class AccessTokenError extends Error {
  readonly reason: "expired" | "invalid";
  /** jose's code, e.g. `ERR_JWS_SIGNATURE_VERIFICATION_FAILED`; never contains the token. */
  readonly detail: string;

  constructor(reason: "expired" | "invalid", detail: string) {
    super(reason === "expired" ? "access token expired" : "access token invalid");
    this.name = "AccessTokenError";
    this.reason = reason;
    this.detail = detail;
  }
}

function assertKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length < MIN_KEY_BYTES) {
    // The message states the rule, never the key.
    throw new RangeError(`JWT signing key must be at least ${MIN_KEY_BYTES} bytes`);
  }
}

/**
 * The signing key from a configured secret string (its UTF-8 bytes). A 32-character secret
 * is the minimum; `openssl rand -base64 48` gives a suitable one.
 */
export function keyFromSecret(secret: string): Uint8Array {
  const key = new TextEncoder().encode(secret);
  assertKey(key);
  return key;
}

export async function signAccessToken(
  key: Uint8Array,
  claims: AccessClaimsInput,
  ttlSeconds: number,
  now: Date = new Date(),
): Promise<{ token: string; expiresAt: Date; jti: string }> {
  assertKey(key);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError("ttlSeconds must be a positive integer");
  }
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + ttlSeconds;
  const jti = crypto.randomUUID();
  const extra: Record<string, number> = {};
  if (claims.gen !== undefined) extra.gen = claims.gen;
  if (claims.authTime !== undefined) extra.auth_time = claims.authTime;
  const token = await new SignJWT({ username: claims.username, role: claims.role, ...extra })
    .setProtectedHeader({ alg: ALG, typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuer(ISSUER)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(key);
  return { token, expiresAt: new Date(exp * 1000), jti };
}

/** The token's claims, or an `AccessTokenError`. A token is expired from its `exp` second on. */
export async function verifyAccessToken(
  key: Uint8Array,
  token: string,
  now: Date = new Date(),
): Promise<AccessClaims> {
  assertKey(key);
  let payload;
  try {
    ({ payload } = await jwtVerify(token, key, {
      // Pinning the algorithm refuses `alg: none` and any attempt to pick another algorithm.
      algorithms: [ALG],
      issuer: ISSUER,
      currentDate: now,
      requiredClaims: ["sub", "iat", "exp", "jti"],
    }));
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new AccessTokenError("expired", err.code);
    if (err instanceof errors.JOSEError) throw new AccessTokenError("invalid", err.code);
    // Non-JOSE failures (e.g. a non-string token) are malformed input, not server faults.
    throw new AccessTokenError("invalid", "ERR_MALFORMED");
  }
  const { sub, username, role, iat, exp, jti, gen, auth_time } = payload;
  const optionalInt = (v: unknown) => v === undefined || Number.isSafeInteger(v);
  if (
    typeof sub !== "string" || sub === "" || typeof username !== "string" ||
    typeof role !== "string" || typeof iat !== "number" || typeof exp !== "number" ||
    typeof jti !== "string" || !optionalInt(gen) || !optionalInt(auth_time)
  ) {
    throw new AccessTokenError("invalid", "ERR_CLAIMS_SHAPE");
  }
  const out: AccessClaims = { sub, username, role, iss: ISSUER, iat, exp, jti };
  if (gen !== undefined) out.gen = gen as number;
  if (auth_time !== undefined) out.authTime = auth_time as number;
  return out;
}
