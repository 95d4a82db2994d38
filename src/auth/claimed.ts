/**
 * Who a request said it was, read from its Authorization header without checking anything:
 * for the request log of a refused request (a 401 still tells an operator which partner
 * system tried). Never a password or a token's secret part: a Basic header gives its username,
 * an API token its public prefix, a JWT the username it carries.
 */
import { Buffer } from "node:buffer";
import { parseApiToken } from "./secrets.ts";

export interface ClaimedIdentity {
  username?: string;
  /** The public prefix of a `d2gw_` API token; "legacy" for an old service's 40-hex token. */
  tokenPrefix?: string;
}

const MAX_USERNAME = 64;

export function claimedIdentity(authorization: string | undefined | null): ClaimedIdentity {
  if (!authorization) return {};
  const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(authorization);
  if (!m) return {};
  const scheme = m[1].toLowerCase();
  const value = m[2];
  if (scheme === "basic") {
    let decoded: string;
    try {
      decoded = Buffer.from(value, "base64").toString("utf8");
    } catch {
      return {};
    }
    const colon = decoded.indexOf(":");
    if (colon <= 0) return {};
    return { username: printable(decoded.slice(0, colon)) };
  }
  if (scheme === "token" || scheme === "bearer" || scheme === "apitoken") {
    const prefix = parseApiToken(value);
    if (prefix) return { tokenPrefix: prefix };
    if (/^[0-9a-f]{40}$/i.test(value)) return { tokenPrefix: "legacy" };
    const parts = value.split(".");
    if (parts.length === 3) {
      try {
        const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
        if (typeof claims?.username === "string") return { username: printable(claims.username) };
      } catch { /* not a JWT: nothing claimed */ }
    }
  }
  return {};
}

/** A claimed name is attacker-controlled text: kept short and printable for logs and pages. */
function printable(s: string): string | undefined {
  // deno-lint-ignore no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, "").slice(0, MAX_USERNAME);
  return clean || undefined;
}
