/**
 * Machine-generated secrets: API tokens for machine clients and opaque refresh tokens.
 *
 * Only `hashToken(token)` is stored. Plain SHA-256 is enough here, unlike for passwords: these
 * tokens carry 238 (API) or 256 (refresh) random bits, so a stolen hash table cannot be
 * brute-forced and a slow KDF would only slow down every authenticated request. It also makes
 * the hash a deterministic lookup key (a unique index), which a salted hash cannot be.
 */
import { Buffer } from "node:buffer";
import { createHash, timingSafeEqual } from "node:crypto";

const BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
export const API_TOKEN_PREFIX_LENGTH = 8;
/** 40 base62 characters: log2(62)·40 ≈ 238 bits. */
export const API_TOKEN_SECRET_LENGTH = 40;
const API_TOKEN = /^d2gw_([A-Za-z0-9]{8})_[A-Za-z0-9]{32,128}$/;
const HEX = /^[0-9a-fA-F]*$/;

/**
 * `n` bytes from the platform CSPRNG, e.g. for a generated JWT key.
 * Web Crypto fills at most 65,536 bytes per call, far more than any key needs.
 */
export function randomSecretBytes(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 1 || n > 65_536) {
    throw new RangeError("n must be an integer from 1 to 65536");
  }
  return crypto.getRandomValues(new Uint8Array(n));
}

/** Uniform base62: bytes ≥ 248 are drawn again, since 248 = 4·62 and 256 is not a multiple. */
function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of randomSecretBytes(length + 16)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

/** SHA-256 hex of the whole token string: what the database stores and looks up. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/**
 * A new API token `d2gw_<prefix>_<secret>`, shown to the admin once. The fixed `d2gw_` start
 * lets secret scanners and people recognise a leaked token; the prefix is stored in clear so
 * the admin list can show which token is which and a revocation can name it.
 */
export function newApiToken(): { token: string; prefix: string; hash: string } {
  const prefix = randomBase62(API_TOKEN_PREFIX_LENGTH);
  const token = `d2gw_${prefix}_${randomBase62(API_TOKEN_SECRET_LENGTH)}`;
  return { token, prefix, hash: hashToken(token) };
}

/**
 * The prefix of something shaped like an API token, else null. Lets the auth layer reject
 * junk (and tell an API token from a JWT) before touching the database.
 */
export function parseApiToken(value: string): string | null {
  if (typeof value !== "string") return null;
  return API_TOKEN.exec(value)?.[1] ?? null;
}

/** An opaque refresh token (32 random bytes, base64url) and the hash to store for it. */
export function newRefreshToken(): { token: string; hash: string } {
  const token = Buffer.from(randomSecretBytes(32)).toString("base64url");
  return { token, hash: hashToken(token) };
}

/**
 * Compare two hex digests without leaking where they first differ. False, never a throw, for
 * different lengths (a digest's length is public), non-hex or empty input: an empty column must
 * never match an empty presented value. Case-insensitive.
 */
export function constantTimeEqualHex(a: string, b: string): boolean {
  if (typeof a !== "string" || typeof b !== "string") return false;
  if (a.length === 0 || a.length !== b.length || a.length % 2 !== 0) return false;
  if (!HEX.test(a) || !HEX.test(b)) return false;
  return timingSafeEqual(Buffer.from(a, "hex"), Buffer.from(b, "hex"));
}
