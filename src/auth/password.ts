/**
 * Password hashing for human users (admin UI logins), with scrypt from `node:crypto`.
 *
 * Stored form: `scrypt$N$r$p$salt$hash`, salt and hash in unpadded standard base64. Each hash
 * carries its own parameters, so raising the cost later needs no migration: old hashes still
 * verify, and `needsRehash` tells the login path to store a fresh hash on the next success.
 *
 * Users imported from the old Go service (`dhis2gw import-go-service`) arrive with its bcrypt
 * hashes (`$2a$…`, from pgcrypto's crypt() or Go's bcrypt). Those verify too, and being no
 * scrypt hash, `needsRehash` replaces them at that user's first successful login.
 */
import { Buffer } from "node:buffer";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { compare as bcryptCompare } from "bcryptjs";

interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/**
 * Current cost: N=2^14, r=8, p=1 uses 128·N·r = 16 MiB per hash. Measured in this container
 * (Deno 2.9.6, 2 vCPUs), 10 runs each: N=2^14 median 74 ms (min 62, max 109);
 * N=2^15 median 154 ms (min 147, max 163). 2^14 is the one inside the 30–100 ms target; logins are
 * rare, so this is about how much an attacker pays per guess after stealing the table.
 */
const CURRENT: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 14, r: 8, p: 1 });
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/**
 * Limits on what a stored string may ask for. A row is data, not code: a corrupted or planted
 * `scrypt$1048576$...` must not make one login burn gigabytes of memory.
 */
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;
const MAX_MEMORY_BYTES = 256 * 1024 * 1024;

const B64 = /^[A-Za-z0-9+/]+$/;

/**
 * NFKC so the same typed password gives the same bytes whichever keyboard or OS produced it
 * (composed vs decomposed accents, full-width digits), as NIST SP 800-63B recommends.
 */
function normalize(password: string): string {
  return password.normalize("NFKC");
}

function derive(password: string, salt: Uint8Array, keyLen: number, p: ScryptParams) {
  // 128·N·r is scrypt's big buffer; the default maxmem (32 MiB) would refuse N=2^15, so give it
  // exactly what these parameters need plus headroom for the small per-lane buffers.
  const maxmem = 128 * p.N * p.r + 128 * p.r * p.p + 1024 * 1024;
  return new Promise<Buffer>((resolve, reject) => {
    scrypt(normalize(password), salt, keyLen, { N: p.N, r: p.r, p: p.p, maxmem }, (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}

const toB64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64").replace(/=+$/, "");

interface Parsed extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 1 && (n & (n - 1)) === 0;
}

/** Decimal integer without sign, exponent or leading zeros, so `16384` has one spelling. */
function parseIntStrict(text: string): number {
  return /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : NaN;
}

function parse(stored: unknown): Parsed | null {
  if (typeof stored !== "string" || stored.length > 512) return null;
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return null;
  const [N, r, p] = parts.slice(1, 4).map(parseIntStrict);
  if (!isPowerOfTwo(N) || N > MAX_N) return null;
  if (!(r >= 1 && r <= MAX_R) || !(p >= 1 && p <= MAX_P)) return null;
  if (128 * N * r > MAX_MEMORY_BYTES) return null;
  if (!B64.test(parts[4]) || !B64.test(parts[5])) return null;
  const salt = Buffer.from(parts[4], "base64");
  const hash = Buffer.from(parts[5], "base64");
  // Re-encoding catches lengths that base64 cannot produce (Buffer silently drops such bits).
  if (toB64(salt) !== parts[4] || toB64(hash) !== parts[5]) return null;
  if (salt.length < 8 || hash.length < 16 || hash.length > 64) return null;
  return { N, r, p, salt, hash };
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, CURRENT);
  return `scrypt$${CURRENT.N}$${CURRENT.r}$${CURRENT.p}$${toB64(salt)}$${toB64(key)}`;
}

/**
 * bcrypt's modular crypt form. Cost from 4 to 14 only: the old service used 6 (pgcrypto) or 10
 * (Go's DefaultCost); a planted `$2a$31$` would make one login run for days.
 */
const BCRYPT = /^\$2[aby]\$(0[4-9]|1[0-4])\$[./A-Za-z0-9]{53}$/;

/** True for a bcrypt hash as the old Go service stored them. */
export function isLegacyBcrypt(stored: string): boolean {
  return typeof stored === "string" && BCRYPT.test(stored);
}

/** False for a wrong password and for any stored value that is not a hash we can read. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (isLegacyBcrypt(stored)) {
    if (typeof password !== "string") return false;
    // Not NFKC-normalised: the old service hashed the bytes as typed, so that is what matches.
    return await bcryptCompare(password, stored).catch(() => false);
  }
  const parsed = parse(stored);
  if (!parsed || typeof password !== "string") return false;
  try {
    const key = await derive(password, parsed.salt, parsed.hash.length, parsed);
    return timingSafeEqual(key, parsed.hash);
  } catch {
    return false;
  }
}

/** True when the stored hash is unreadable or uses other parameters than new hashes would. */
export function needsRehash(stored: string): boolean {
  const parsed = parse(stored);
  return !parsed || parsed.N !== CURRENT.N || parsed.r !== CURRENT.r ||
    parsed.p !== CURRENT.p || parsed.salt.length !== SALT_BYTES ||
    parsed.hash.length !== KEY_BYTES;
}

/**
 * Spend what a real verification costs, for logins naming a user that does not exist, so the
 * response time does not reveal which usernames are valid. Always false.
 */
export async function dummyVerify(password = ""): Promise<false> {
  try {
    const key = await derive(password, randomBytes(SALT_BYTES), KEY_BYTES, CURRENT);
    timingSafeEqual(key, Buffer.alloc(KEY_BYTES));
  } catch {
    // Nothing to report: the answer is false either way.
  }
  return false;
}

export const PASSWORD_MIN_LENGTH = 10;
/** Bounds the work a single request can cause; generous for passphrases and managers. */
export const PASSWORD_MAX_LENGTH = 256;

/**
 * Most common passwords that pass the length rule (shorter ones fail it already), plus the
 * DHIS2 demo passwords that people copy from play.dhis2.org. Compared case-insensitively.
 */
const COMMON = new Set([
  "1234567890",
  "0987654321",
  "12345678910",
  "123456789a",
  "1q2w3e4r5t",
  "1qaz2wsx3edc",
  "qwertyuiop",
  "qwerty1234",
  "qwerty123456",
  "asdfghjkl1",
  "password12",
  "password123",
  "password1234",
  "password1!",
  "passw0rd123",
  "iloveyou12",
  "admin12345",
  "admin123456",
  "administrator",
  "welcome123",
  "letmein123",
  "changeme123",
  "football123",
  "district1#",
  "district123",
  "dhis2district",
]);

/** The whole password walks one step at a time: "abcdefghij", "9876543210". */
function isSequence(chars: string[]): boolean {
  const codes = chars.map((c) => c.codePointAt(0) ?? 0);
  const step = codes[1] - codes[0];
  if (step !== 1 && step !== -1) return false;
  return codes.every((c, i) => i === 0 || c - codes[i - 1] === step);
}

/**
 * Reasons the password is too weak; an empty array means acceptable. Reasons never quote the
 * password, so they are safe to return to the client and to log.
 *
 * Decision: no character-class rule ("one digit, one symbol"). Following NIST SP 800-63B,
 * length plus a blocklist of known passwords does more: composition rules mostly turn
 * "summerholiday" into "Summerholiday1!" and reject long passphrases people can remember.
 */
export function checkPasswordPolicy(password: string, opts: { username?: string } = {}): string[] {
  const reasons: string[] = [];
  const chars = [...normalize(password)];
  const lower = normalize(password).toLowerCase();
  if (chars.length < PASSWORD_MIN_LENGTH) {
    reasons.push(`must be at least ${PASSWORD_MIN_LENGTH} characters long`);
  }
  if (chars.length > PASSWORD_MAX_LENGTH) {
    reasons.push(`must be at most ${PASSWORD_MAX_LENGTH} characters long`);
  }
  const username = opts.username?.normalize("NFKC").toLowerCase().trim();
  // Containment only for usernames of 3+ characters: "al" inside a passphrase is no weakness.
  if (username && (lower === username || (username.length >= 3 && lower.includes(username)))) {
    reasons.push("must not contain the username");
  }
  if (chars.length > 0 && chars.every((c) => c === chars[0])) {
    reasons.push("must not repeat a single character");
  } else if (chars.length > 2 && isSequence(chars)) {
    reasons.push("must not be a simple sequence such as abcdef or 987654");
  }
  if (COMMON.has(lower)) reasons.push("is one of the most commonly used passwords");
  return reasons;
}
