/**
 * IP addresses and CIDR ranges for `server.trusted_proxies`: parsed by the config loader (so a
 * bad entry is a config problem naming the env var) and matched by http/trusted_proxies.ts. IPv4
 * addresses are kept in their IPv4-mapped IPv6 form (::ffff:a.b.c.d), so one 16-byte comparison
 * covers both families and a dual-stack socket's `::ffff:127.0.0.1` matches `127.0.0.0/8`.
 */

export type Bytes = Uint8Array; // always 16 bytes

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

function parseV4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    // No leading zeros: some parsers read "010" as octal 8, so it is not one address to all.
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return null;
    out.push(Number(p));
  }
  return out;
}

function parseV6(text: string): Bytes | null {
  let body = text;
  let v4Words: number[] = [];
  if (text.includes(".")) {
    // An embedded IPv4 tail (::ffff:192.0.2.1) stands for the last two words.
    const at = text.lastIndexOf(":");
    const v4 = parseV4(text.slice(at + 1));
    if (!v4) return null;
    v4Words = [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
    body = text.slice(0, at + 1);
    if (!body.endsWith("::")) body = body.slice(0, -1);
  }
  const halves = body.split("::");
  if (halves.length > 2) return null;
  const words = (s: string) => s === "" ? [] : s.split(":");
  const head = words(halves[0]);
  const rest = halves.length === 2 ? words(halves[1]) : [];
  if (![...head, ...rest].every((w) => /^[0-9a-fA-F]{1,4}$/.test(w))) return null;
  const given = head.length + rest.length + v4Words.length;
  if (halves.length === 2 ? given > 7 : given !== 8) return null;
  const groups = [
    ...head.map((w) => parseInt(w, 16)),
    ...Array(8 - given).fill(0),
    ...rest.map((w) => parseInt(w, 16)),
    ...v4Words,
  ];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/**
 * An IP address as 16 bytes, or null. Accepts what proxies write into X-Forwarded-For besides a
 * bare address: `[v6]`, `[v6]:port`, `v4:port` and a zone (`fe80::1%eth0`, dropped).
 */
export function parseIp(input: string): Bytes | null {
  let text = input.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed) text = bracketed[1];
  else if (/^[\d.]+:\d{1,5}$/.test(text)) text = text.slice(0, text.indexOf(":"));
  const zone = text.indexOf("%");
  if (zone >= 0 && text.includes(":")) text = text.slice(0, zone);
  return parseBare(text);
}

/** Exactly an address: no brackets, port or zone. */
function parseBare(text: string): Bytes | null {
  if (text.includes(":")) return parseV6(text);
  const v4 = parseV4(text);
  return v4 ? Uint8Array.from([...V4_MAPPED_PREFIX, ...v4]) : null;
}

function isV4Mapped(ip: Bytes): boolean {
  return V4_MAPPED_PREFIX.every((b, i) => ip[i] === b);
}

/** Dotted IPv4 for IPv4(-mapped) addresses, RFC 5952 text (longest zero run as ::) otherwise. */
export function formatIp(ip: Bytes): string {
  if (isV4Mapped(ip)) return Array.from(ip.slice(12)).join(".");
  const words = Array.from({ length: 8 }, (_, i) => (ip[2 * i] << 8) | ip[2 * i + 1]);
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

export interface Cidr {
  net: Bytes;
  bits: number;
}

export function contains(c: Cidr, ip: Bytes): boolean {
  const whole = c.bits >> 3;
  for (let i = 0; i < whole; i++) if (ip[i] !== c.net[i]) return false;
  const rest = c.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip[whole] & mask) === (c.net[whole] & mask);
}

/**
 * Parses a comma-separated list (`127.0.0.0/8, ::1, 10.42.0.0/16`); an empty one trusts no
 * peer. Host bits under the prefix are ignored, as in `10.1.2.3/8`.
 */
export function parseCidrList(list: string): { ranges: Cidr[]; errors: string[] } {
  const ranges: Cidr[] = [];
  const errors: string[] = [];
  for (const raw of list.split(",").map((s) => s.trim()).filter(Boolean)) {
    const slash = raw.indexOf("/");
    const addr = slash < 0 ? raw : raw.slice(0, slash);
    const ip = parseBare(addr);
    if (!ip) {
      errors.push(`"${raw}" is not an IP address or CIDR`);
      continue;
    }
    const v4 = !addr.includes(":");
    const max = v4 ? 32 : 128;
    const prefix = slash < 0 ? String(max) : raw.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) {
      errors.push(`"${raw}": the prefix length must be 0 to ${max}`);
      continue;
    }
    ranges.push({ net: ip, bits: Number(prefix) + (v4 ? 96 : 0) });
  }
  return { ranges, errors };
}
