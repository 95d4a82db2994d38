/**
 * The `destinations:` and `sources:` sections: every DHIS2 instance dhis2gw delivers to, and
 * which of them each source's submissions go to. Dynamic keys (destination and source names),
 * so they are parsed here rather than through FIELDS.
 *
 * The `api.*` keys that describe a DHIS2 (URL, credentials, version, timeouts, import options)
 * are the destination `default`; a `destinations.default` block overrides them key by key, so a
 * config with only `api.*` keys keeps working unchanged. Intake policies (`unmapped_codes`,
 * `mapping_scheme`, `complete_data_set`) stay global in `api.*`.
 */
import { parseWindow } from "./delivery_window.ts";

export interface BreakerConfig {
  /** Consecutive failures (transport or 5xx) that open the circuit. */
  failure_threshold: number;
  /** Seconds the first cool-down lasts; each failed probe doubles it up to cooldown_max. */
  cooldown_min: number;
  cooldown_max: number;
}

export interface DestinationConfig {
  name: string;
  /** Empty only for `default` when no DHIS2 is configured: nothing is delivered then. */
  base_url: string;
  auth_method: "basic" | "pat";
  user: string;
  /** Secrets, resolved from the YAML value, an env var or a file. */
  password: string;
  pat: string;
  /** Configured version (2.41 or 2.41.3); the one read from /api/system/info wins. */
  version: string;
  timeout: number;
  connect_timeout: number;
  import_strategy: "CREATE_AND_UPDATE" | "CREATE" | "UPDATE" | "DELETE";
  id_scheme: "UID" | "CODE";
  dry_run: boolean;
  data_set: string;
  attribute_option_combo: string;
  /** Whose mappings apply (dhis2_mappings.instance_name); default: the destination's name. */
  instance_name: string;
  /** Requests in flight to this DHIS2 across every replica (counted in the database). */
  max_concurrent: number;
  /** Requests started per second across every replica; 0: no limit. */
  rate_limit: number;
  /** `HH:MM-HH:MM` local time when deliveries may start; empty: always. */
  window: string;
  /** IANA zone of the window; default server.timezone. */
  timezone: string;
  /** Destinations that get a copy of every submission sent here. */
  copies: string[];
  breaker: BreakerConfig;
}

export interface SourceRouting {
  destination: string;
  copies: string[];
}

/** The api.* values the `default` destination starts from (config.ts passes them). */
export interface ApiDefaults {
  dhis2_base_url: string;
  dhis2_user: string;
  dhis2_password: string;
  dhis2_pat: string;
  dhis2_auth_method: "basic" | "pat";
  dhis2_timeout: number;
  dhis2_connect_timeout: number;
  import_strategy: DestinationConfig["import_strategy"];
  id_scheme: DestinationConfig["id_scheme"];
  dry_run: boolean;
  dhis2_data_set: string;
  dhis2_version: string;
  dhis2_attribute_option_combo: string;
}

export interface DestinationInput {
  destinations: unknown;
  sources: unknown;
  api: ApiDefaults;
  timezone: string;
  env: Record<string, string | undefined>;
  readFile: (path: string) => string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const KEYS = new Set([
  "base_url",
  "auth_method",
  "user",
  "password",
  "password_env",
  "password_file",
  "pat",
  "pat_env",
  "pat_file",
  "version",
  "timeout",
  "connect_timeout",
  "import_strategy",
  "id_scheme",
  "dry_run",
  "data_set",
  "attribute_option_combo",
  "instance_name",
  "max_concurrent",
  "rate_limit",
  "window",
  "timezone",
  "copies",
  "breaker",
]);
const BREAKER_KEYS = new Set(["failure_threshold", "cooldown_min", "cooldown_max"]);
const SOURCE_KEYS = new Set(["destination", "copies"]);

export const DESTINATION_DEFAULTS = {
  max_concurrent: 8,
  rate_limit: 0,
  breaker: { failure_threshold: 5, cooldown_min: 30, cooldown_max: 300 },
} as const;

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses both sections; every problem names its YAML key. Secrets never appear in a problem. */
export function parseDestinations(input: DestinationInput): {
  destinations: Record<string, DestinationConfig>;
  sources: Record<string, SourceRouting>;
  problems: string[];
} {
  const problems: string[] = [];
  const raw = input.destinations ?? {};
  const blocks: Record<string, Record<string, unknown>> = {};
  if (!isMap(raw)) problems.push("destinations: must be a mapping of name: settings");
  else {
    for (const [name, body] of Object.entries(raw)) {
      if (!NAME.test(name)) {
        problems.push(`destinations.${name}: a name is 1-63 letters, digits, _ . or -`);
      } else if (body !== null && body !== undefined && !isMap(body)) {
        problems.push(`destinations.${name}: must be a mapping of settings`);
      } else blocks[name] = (body ?? {}) as Record<string, unknown>;
    }
  }
  const destinations: Record<string, DestinationConfig> = {};
  const names = ["default", ...Object.keys(blocks).filter((n) => n !== "default")];
  for (const name of names) {
    const d = parseOne(name, blocks[name] ?? {}, input, problems);
    if (d) destinations[name] = d;
  }
  // Names with problems of their own count as known: a reference to them is not one more.
  const known = new Set(names);
  for (const d of Object.values(destinations)) {
    for (const c of d.copies) {
      if (!known.has(c)) problems.push(`destinations.${d.name}.copies: no destination "${c}"`);
      else if (c === d.name) problems.push(`destinations.${d.name}.copies: names itself`);
    }
  }

  const sources: Record<string, SourceRouting> = {};
  const rawSources = input.sources ?? {};
  if (!isMap(rawSources)) problems.push("sources: must be a mapping of source_name: routing");
  else {
    for (const [name, body] of Object.entries(rawSources)) {
      const at = `sources.${name}`;
      if (!isMap(body)) {
        problems.push(`${at}: must be a mapping with destination and/or copies`);
        continue;
      }
      for (const k of Object.keys(body)) {
        if (!SOURCE_KEYS.has(k)) problems.push(`${at}: unknown key "${k}"`);
      }
      const destination = body.destination === undefined ? "default" : String(body.destination);
      if (!known.has(destination)) {
        problems.push(`${at}.destination: no destination "${destination}"`);
      }
      const copies = nameList(body.copies, `${at}.copies`, problems);
      for (const c of copies) {
        if (!known.has(c)) problems.push(`${at}.copies: no destination "${c}"`);
      }
      sources[name] = { destination, copies };
    }
  }
  for (const d of Object.values(destinations)) {
    if (d.name !== "default" && !d.base_url) {
      problems.push(`destinations.${d.name}.base_url: is required`);
    }
  }
  return { destinations, sources, problems };
}

function nameList(v: unknown, at: string, problems: string[]): string[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : typeof v === "string" ? v.split(",") : null;
  if (!list || list.some((x) => typeof x !== "string")) {
    problems.push(`${at}: must be a list of destination names`);
    return [];
  }
  return [...new Set(list.map((x) => String(x).trim()).filter(Boolean))];
}

function parseOne(
  name: string,
  b: Record<string, unknown>,
  input: DestinationInput,
  problems: string[],
): DestinationConfig | null {
  const at = `destinations.${name}`;
  const before = problems.length;
  for (const k of Object.keys(b)) if (!KEYS.has(k)) problems.push(`${at}: unknown key "${k}"`);
  // Only `default` inherits api.*; another destination is described entirely by its block.
  const api = name === "default" ? input.api : null;
  const str = (key: string, dflt: string): string => {
    const v = b[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v === "object") {
      problems.push(`${at}.${key}: must be a text value`);
      return dflt;
    }
    return String(v);
  };
  const int = (key: string, dflt: number, min: number, max: number): number => {
    const v = b[key];
    if (v === undefined || v === null) return dflt;
    const n = typeof v === "number" ? v : Number(String(v).trim() || NaN);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${at}.${key}: must be a whole number from ${min} to ${max}`);
      return dflt;
    }
    return n;
  };
  const oneOf = <T extends string>(key: string, values: readonly T[], dflt: T): T => {
    const v = b[key];
    if (v === undefined || v === null) return dflt;
    const s = String(v).trim();
    const hit = values.find((x) => x.toLowerCase() === s.toLowerCase());
    if (!hit) problems.push(`${at}.${key}: must be one of ${values.join(", ")}`);
    return hit ?? dflt;
  };

  const base_url = str("base_url", api?.dhis2_base_url ?? "");
  // api.dhis2_base_url and api.dhis2_version are checked (and named) by config.ts.
  if (base_url && b.base_url !== undefined) {
    try {
      const u = new URL(base_url);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    } catch {
      problems.push(`${at}.base_url: must be an http(s) URL`);
    }
  }
  const version = str("version", api?.dhis2_version ?? "");
  if (version && b.version !== undefined && !/^2\.\d{2}(\.\d+)?$/.test(version)) {
    problems.push(`${at}.version: must look like 2.41 or 2.41.3`);
  }
  let rate_limit = DESTINATION_DEFAULTS.rate_limit as number;
  if (b.rate_limit !== undefined && b.rate_limit !== null) {
    const n = Number(b.rate_limit);
    if (!Number.isFinite(n) || n < 0 || n > 10_000) {
      problems.push(`${at}.rate_limit: must be requests per second from 0 (no limit) to 10000`);
    } else rate_limit = n;
  }
  const window = str("window", "");
  if (window && !parseWindow(window)) {
    problems.push(`${at}.window: must be HH:MM-HH:MM (e.g. 18:00-06:00), two different times`);
  }
  const timezone = str("timezone", input.timezone);
  try {
    // server.timezone, the default, is checked (and named) by config.ts.
    if (b.timezone !== undefined) new Intl.DateTimeFormat("en", { timeZone: timezone });
  } catch {
    problems.push(`${at}.timezone: unknown time zone`);
  }
  const breaker = parseBreaker(b.breaker, `${at}.breaker`, problems);
  const d: DestinationConfig = {
    name,
    base_url,
    auth_method: oneOf("auth_method", ["basic", "pat"] as const, api?.dhis2_auth_method ?? "basic"),
    user: str("user", api?.dhis2_user ?? ""),
    password: secret(b, "password", at, input, api?.dhis2_password ?? "", problems),
    pat: secret(b, "pat", at, input, api?.dhis2_pat ?? "", problems),
    version,
    timeout: int("timeout", api?.dhis2_timeout ?? 60, 1, 3600),
    connect_timeout: int("connect_timeout", api?.dhis2_connect_timeout ?? 10, 1, 600),
    import_strategy: oneOf(
      "import_strategy",
      ["CREATE_AND_UPDATE", "CREATE", "UPDATE", "DELETE"] as const,
      api?.import_strategy ?? "CREATE_AND_UPDATE",
    ),
    id_scheme: oneOf("id_scheme", ["UID", "CODE"] as const, api?.id_scheme ?? "UID"),
    dry_run: b.dry_run === undefined ? api?.dry_run ?? false : b.dry_run === true ||
      ["true", "1", "yes", "on"].includes(String(b.dry_run).toLowerCase()),
    data_set: str("data_set", api?.dhis2_data_set ?? ""),
    attribute_option_combo: str("attribute_option_combo", api?.dhis2_attribute_option_combo ?? ""),
    instance_name: str("instance_name", name),
    max_concurrent: int("max_concurrent", DESTINATION_DEFAULTS.max_concurrent, 1, 1000),
    rate_limit,
    window,
    timezone,
    copies: nameList(b.copies, `${at}.copies`, problems),
    breaker,
  };
  return problems.length === before ? d : null;
}

function parseBreaker(v: unknown, at: string, problems: string[]): BreakerConfig {
  const out: BreakerConfig = { ...DESTINATION_DEFAULTS.breaker };
  if (v === undefined || v === null) return out;
  if (!isMap(v)) {
    problems.push(`${at}: must be a mapping (failure_threshold, cooldown_min, cooldown_max)`);
    return out;
  }
  for (const [k, raw] of Object.entries(v)) {
    if (!BREAKER_KEYS.has(k)) {
      problems.push(`${at}: unknown key "${k}"`);
      continue;
    }
    const n = Number(raw);
    const [min, max] = k === "failure_threshold" ? [1, 1000] : [1, 86400];
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${at}.${k}: must be a whole number from ${min} to ${max}`);
    } else out[k as keyof BreakerConfig] = n;
  }
  if (out.cooldown_max < out.cooldown_min) {
    problems.push(`${at}.cooldown_max: must be >= cooldown_min`);
  }
  return out;
}

/**
 * A secret from `<key>` (the YAML value), `<key>_env` (an env var's name) or `<key>_file` (a
 * file's path; one trailing newline dropped, as Docker and Kubernetes secrets are written).
 * Problems name the key, the variable or the path, never the value.
 */
function secret(
  b: Record<string, unknown>,
  key: string,
  at: string,
  input: DestinationInput,
  dflt: string,
  problems: string[],
): string {
  const given = [key, `${key}_env`, `${key}_file`].filter((k) => b[k] !== undefined);
  if (given.length > 1) {
    problems.push(`${at}: set only one of ${given.join(", ")}`);
    return "";
  }
  if (b[key] !== undefined) return String(b[key] ?? "");
  if (b[`${key}_env`] !== undefined) {
    const name = String(b[`${key}_env`]);
    const v = input.env[name];
    if (v === undefined) problems.push(`${at}.${key}_env: env ${name} is not set`);
    return v ?? "";
  }
  if (b[`${key}_file`] !== undefined) {
    const path = String(b[`${key}_file`]);
    try {
      return input.readFile(path).replace(/\r?\n$/, "");
    } catch (err) {
      problems.push(`${at}.${key}_file: cannot read ${path} (${(err as Error).name})`);
      return "";
    }
  }
  return dflt;
}

/** Where a source's submissions go: its destination first, then every copy, each once. */
export function routeFor(
  cfg: { destinations: Record<string, DestinationConfig>; sources: Record<string, SourceRouting> },
  sourceName: string,
): string[] {
  const routing = cfg.sources[sourceName];
  const primary = routing?.destination ?? "default";
  const copies = [...(routing?.copies ?? []), ...(cfg.destinations[primary]?.copies ?? [])];
  return [...new Set([primary, ...copies])];
}

/** A destination as `config check` shows it: secrets redacted. */
export function redactDestination(d: DestinationConfig): Record<string, unknown> {
  return { ...d, password: d.password ? "REDACTED" : "", pat: d.pat ? "REDACTED" : "" };
}
