/**
 * The simulator's authentication: pre-emptive Basic and `ApiToken` PATs, with the replies and
 * version differences of reference §1. Also mints valid PATs for tests.
 */
import { type Dhis2Version, minor, webMessage } from "./simulator_web.ts";

export interface SimUser {
  id: string;
  username: string;
  password: string;
  firstName?: string;
  surname?: string;
  /** `ALL` or e.g. `F_DATAVALUE_ADD` (needed for `POST /api/dataValueSets`, §1.3). */
  authorities: string[];
  /**
   * Capture org units: values must be at or below one of them (E7617). Absent means the
   * roots of the hierarchy, looked up per request, so org units added later are covered.
   */
  organisationUnits?: string[];
  disabled?: boolean;
  locked?: boolean;
}

export interface SimToken {
  token: string;
  username: string;
  expired?: boolean;
}

export type AuthOutcome =
  | { ok: true; user: SimUser; scheme: "basic" | "apitoken" }
  | { ok: false; response: Response };

export interface AuthSettings {
  version: Dhis2Version;
  users: SimUser[];
  tokens: SimToken[];
  /** PAT checksum validation; DHIS2 does it from 2.41 on (§1.2). */
  checksumValidation: boolean;
}

const TOKEN_HEADER = /^ApiToken ([a-z0-9\-._~+/]+=*)$/i;

/** Decides who is calling, or the exact reply DHIS2 would give instead (§1.1, §1.2). */
export function authenticate(req: Request, settings: AuthSettings): AuthOutcome {
  const header = req.headers.get("authorization");
  const v = minor(settings.version);
  if (!header) {
    // Browsers get the login page; only XHR callers get a 401 (§1.1).
    if (req.headers.get("x-requested-with") === "XMLHttpRequest") {
      return unauthorized("Unauthorized");
    }
    const login = v >= 41 ? "/dhis-web-login" : "/dhis-web-commons/security/login.action";
    const location = new URL(login, req.url).toString();
    return {
      ok: false,
      response: new Response(null, { status: 302, headers: { Location: location } }),
    };
  }
  if (/^apitoken/i.test(header)) return authenticateToken(header, settings, v);
  if (/^basic /i.test(header)) {
    const [username, password] = decodeBasic(header.slice(6).trim());
    const user = settings.users.find((u) => u.username === username);
    // No WWW-Authenticate: Basic challenge, by design of DHIS2's entry point (§1.1).
    if (!user || user.password !== password) return unauthorized("Unauthorized");
    if (user.locked) return unauthorized("Account locked");
    if (user.disabled) return unauthorized("Account disabled");
    return { ok: true, user, scheme: "basic" };
  }
  return unauthorized("Unauthorized");
}

function authenticateToken(header: string, settings: AuthSettings, v: number): AuthOutcome {
  const challenge = { "WWW-Authenticate": "ApiToken" };
  const match = TOKEN_HEADER.exec(header);
  if (!match) {
    // 2.38–2.40 answer 401, 2.41+ 400 (§1.2 table).
    return v >= 41
      ? { ok: false, response: webMessage(400, "ERROR", "Api token is malformed") }
      : unauthorized("Api token is malformed", challenge);
  }
  const token = match[1];
  if (settings.checksumValidation && !isValidPatChecksum(token)) {
    return { ok: false, response: webMessage(400, "ERROR", "Checksum validation failed") };
  }
  const found = settings.tokens.find((t) => t.token === token);
  const user = found && settings.users.find((u) => u.username === found.username);
  if (!found || !user) {
    return unauthorized(`The API token does not exists${v >= 41 ? "" : "."}`, challenge);
  }
  if (found.expired) {
    return unauthorized("Failed to authenticate API token, token has expired.", challenge);
  }
  if (user.disabled || user.locked) {
    return unauthorized("The API token is disabled, locked or 2FA is enabled.", challenge);
  }
  return { ok: true, user, scheme: "apitoken" };
}

function unauthorized(message: string, headers: Record<string, string> = {}): AuthOutcome {
  return { ok: false, response: webMessage(401, "ERROR", message, { headers }) };
}

function decodeBasic(encoded: string): [string, string] {
  try {
    const text = new TextDecoder().decode(Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0)));
    const colon = text.indexOf(":");
    return colon < 0 ? ["", ""] : [text.slice(0, colon), text.slice(colon + 1)];
  } catch {
    return ["", ""];
  }
}

// ---- PAT formats and checksums (§1.2)

const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC32 of the ASCII `code` followed by `nulPadding` zero bytes. */
function crc32(code: string, nulPadding: number): number {
  const bytes = new Uint8Array(code.length + nulPadding);
  bytes.set(new TextEncoder().encode(code));
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function base62(n: number): string {
  let out = "";
  do {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  } while (n > 0);
  return out.padStart(6, "0");
}

/**
 * 2.41's check. It feeds CRC32 the whole UTF-8 buffer, NUL padding included: 44+4 bytes for
 * `d2p_`, 32+3 for `d2pat_`. V1 tokens minted by 2.38–2.40 used the exact 32 bytes; both
 * are accepted for `d2pat_`, as the reference advises.
 */
export function isValidPatChecksum(token: string): boolean {
  if (token.startsWith("d2p_") && token.length === 54) {
    return base62(crc32(token.slice(4, 48), 4)) === token.slice(48);
  }
  if (token.startsWith("d2pat_") && token.length === 48) {
    const given = token.slice(38);
    const code = token.slice(6, 38);
    return [3, 0].some((pad) => String(crc32(code, pad)).padStart(10, "0") === given);
  }
  return false;
}

const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function randomChars(count: number, alphabet: string): string {
  const bytes = crypto.getRandomValues(new Uint32Array(count));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

/**
 * Mints a PAT in DHIS2's format: `v2` = `d2p_` + 44 + 6 base62 (2.41+), `v1` = `d2pat_` +
 * 32 + 10 digits. V1 gets the 2.41-padded checksum so it passes every simulated version.
 */
export function generatePat(format: "v1" | "v2" = "v2"): string {
  if (format === "v2") {
    const code = randomChars(1, LETTERS) + randomChars(43, LETTERS + "0123456789");
    return `d2p_${code}${base62(crc32(code, 4))}`;
  }
  const code = randomChars(32, LETTERS + "0123456789x");
  return `d2pat_${code}${String(crc32(code, 3)).padStart(10, "0")}`;
}
