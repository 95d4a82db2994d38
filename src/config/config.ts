import { parseDocument } from "yaml";
import { z } from "zod";
import { corsOrigins } from "./cors_origins.ts";
import { parseCidrList } from "./ip.ts";
import { redactUrl, urlSecrets } from "./db_url.ts";
import { type Field, FIELDS, type FieldType } from "./fields.ts";
import { configWarnings } from "./warnings.ts";
import {
  type DestinationConfig,
  parseDestinations,
  redactDestination,
  type SourceRouting,
} from "./destinations.ts";

// Imported from here by open.ts and the CLI.
export { redactUrl };

export interface Config {
  database: {
    uri: string;
    pool_max: number;
    embedded_os_user: string;
    connect_timeout: number;
    statement_timeout: number;
  };
  server: {
    host: string;
    port: number;
    data_dir: string;
    max_retries: number;
    max_concurrent: number;
    request_process_interval: number;
    lease_seconds: number;
    retry_backoff_base: number;
    retry_backoff_max: number;
    retention_days: number;
    body_limit: number;
    shutdown_grace: number;
    logdir: string;
    timezone: string;
    log_level: "debug" | "info" | "warn" | "error";
    trusted_proxies: string;
    cors_origins: string;
    tls_cert: string;
    tls_key: string;
  };
  api: {
    dhis2_base_url: string;
    dhis2_user: string;
    dhis2_password: string;
    dhis2_pat: string;
    dhis2_auth_method: "basic" | "pat";
    dhis2_timeout: number;
    dhis2_connect_timeout: number;
    mapping_scheme: "CODE" | "UID";
    unmapped_codes: "reject" | "ignore";
    save_response: boolean;
    complete_data_set: boolean;
    import_strategy: "CREATE_AND_UPDATE" | "CREATE" | "UPDATE" | "DELETE";
    id_scheme: "UID" | "CODE";
    dry_run: boolean;
    dhis2_data_set: string;
    dhis2_version: string;
    dhis2_attribute_option_combo: string;
    retry_cron_expression: string;
    sync_cron_expression: string;
  };
  auth: {
    jwt_secret: string;
    access_token_ttl: number;
    refresh_token_ttl: number;
    admin_username: string;
    admin_password: string;
    login_max_failures: number;
    login_window: number;
    login_max_failures_address: number;
    credential_cache_ttl: number;
    token_max_lifetime_days: number;
  };
  mappings: { import_max_bytes: number; import_max_rows: number; cache_refresh: number };
  tracker: {
    payload_retention_days: number;
    async_threshold: number;
    atomic_mode: "ALL" | "OBJECT";
    import_strategy: "CREATE_AND_UPDATE" | "CREATE" | "UPDATE";
    job_poll_interval: number;
    job_timeout: number;
  };
  metrics: { token: string; port: number };
  batch: { max_values: number; max_wait_ms: number };
  /** Every DHIS2 delivered to, by name; `default` always (api.* describes it). destinations.ts. */
  destinations: Record<string, DestinationConfig>;
  /** Per source_name: its destination and copies; a source not listed goes to `default`. */
  sources: Record<string, SourceRouting>;
}

/** Where a value came from, for `config check`. */
export type Source = "flag" | "env" | "file" | "default";

export interface LoadInput {
  /** YAML text of the config file, if one was given or found. */
  fileText?: string;
  filePath?: string;
  env: Record<string, string | undefined>;
  /** Values from command-line flags, by YAML key (`server.port`). */
  flags?: Record<string, string>;
  /** Reads a destination's `password_file`/`pat_file`; default Deno.readTextFileSync. */
  readFile?: (path: string) => string;
}

export interface LoadResult {
  config?: Readonly<Config>;
  problems: string[];
  /** Keys of the old service's file that dhis2gw does not use: reported, not fatal. */
  notes: string[];
  /**
   * Settings that parse but leave the gateway unable to deliver (configWarnings), also when
   * there are problems, so one `config check` shows everything to fix.
   */
  warnings: string[];
  sources: Record<string, { source: Source; name?: string }>;
}

function describe(field: Field): string {
  return `${field.key} (env ${field.env[0]})`;
}

function coerce(type: FieldType, raw: unknown): { value?: unknown; error?: string } {
  switch (type.kind) {
    case "string":
      if (raw === null || raw === undefined) return { value: "" };
      if (typeof raw === "object") return { error: "must be a text value" };
      return { value: String(raw) };
    case "int": {
      const schema = z.coerce.number({ error: "must be a whole number" }).int(
        "must be a whole number",
      )
        .min(type.min ?? Number.MIN_SAFE_INTEGER, `must be at least ${type.min}`)
        .max(type.max ?? Number.MAX_SAFE_INTEGER, `must be at most ${type.max}`);
      if (typeof raw === "string" && raw.trim() === "") return { error: "must be a whole number" };
      const r = schema.safeParse(raw);
      return r.success ? { value: r.data } : { error: r.error.issues[0].message };
    }
    case "bool": {
      if (typeof raw === "boolean") return { value: raw };
      const s = String(raw).trim().toLowerCase();
      if (["true", "1", "yes", "on"].includes(s)) return { value: true };
      if (["false", "0", "no", "off", ""].includes(s)) return { value: false };
      return { error: "must be true or false" };
    }
    case "enum": {
      const s = String(raw).trim();
      if (type.values.includes(s)) return { value: s };
      const alias = type.aliases?.[s.toLowerCase()] ??
        type.values.find((v) => v.toLowerCase() === s.toLowerCase());
      if (alias) return { value: alias };
      return { error: `must be one of ${type.values.join(", ")} (got "${s}")` };
    }
  }
}

function getPath(obj: unknown, path: string): { found: boolean; value?: unknown } {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object" || !(part in cur)) return { found: false };
    cur = (cur as Record<string, unknown>)[part];
  }
  return { found: true, value: cur };
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    cur[part] ??= {};
    cur = cur[part] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]] = value;
}

/**
 * Keys the old Go service's file carries (old-go-service.md §7.2: some it required, such as
 * server.migrations_dir and server.templates_directory) that mean nothing here. An operator
 * upgrading in place keeps that file, so these are noted and ignored; any other unknown key is
 * a problem (most likely a typo).
 */
const OLD_SERVICE_KEYS = new Set([
  "database.db_host",
  "database.db_port",
  "database.db_username",
  "database.db_password",
  "server.proxy_port",
  "server.redis_address",
  "server.redis_db",
  "server.queue_prefix",
  "server.start_submission_period",
  "server.end_submission_period",
  "server.skip_request_processing",
  "server.force_sync",
  "server.sync_on",
  "server.fake_sync_to_base_dhis2",
  "server.dhis2_job_status_check_interval",
  "server.templates_directory",
  "server.static_directory",
  "server.docs_directory",
  "server.migrations_dir",
  "server.use_ssl",
  "server.ssl_client_certkey_file",
  "server.ssl_server_certkey_file",
  "server.ssl_trusted_cafile",
  "api.dhis2_country",
  "api.dhis2_tree_ids",
  "api.dhis2_tree_i_ds",
  "api.dhis2_facility_level",
  "api.dhis2_district_oulevel_name",
  "api.cc_dhis2_servers",
  "api.cc_dhis2_hierarchy_servers",
  "api.cc_dhis2_create_servers",
  "api.cc_dhis2_update_servers",
  "api.cc_dhis2_ou_group_add_servers",
  "api.cc_dhis2_ougroup_add_servers",
  "api.metadata_batch_size",
  "api.dhis2_ou_mflid_attribute_id",
  "api.authtoken",
  "pbs", // the whole section (cmd/pbs_sync only)
]);

/**
 * Where and what, never the text: a YAML error's message quotes the file's lines, and some
 * (an unresolved alias such as `*Passw0rd`) quote the value itself, which may be a password.
 */
function yamlProblem(e: { code: string; linePos?: [{ line: number; col: number }, ...unknown[]] }) {
  const at = e.linePos?.[0];
  return `${at ? `line ${at.line}, column ${at.col}` : "somewhere"} (${e.code})`;
}

/**
 * The file as plain data, or the reasons it is not. Warnings count as problems: the parser
 * turns an unquoted `!secret` (an unknown tag) into an empty string and would print the line.
 */
function parseConfigYaml(text: string): { value?: unknown; problems: string[] } {
  // prettyErrors fills linePos (and a quoting message, which is never shown).
  const doc = parseDocument(text, { logLevel: "silent", prettyErrors: true });
  const problems = [
    ...doc.errors.map((e) => `not valid YAML at ${yamlProblem(e)}`),
    ...doc.warnings.map((e) => `not valid YAML at ${yamlProblem(e)}; quote the value`),
  ];
  if (problems.length) return { problems };
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }), problems };
  } catch {
    return { problems: ["not valid YAML: an alias (*name) has no anchor; quote the value"] };
  }
}

/** YAML keys that are neither a field nor an alias: reported, never silently ignored. */
function unknownKeys(doc: Record<string, unknown>): string[] {
  const known = new Set<string>();
  for (const f of FIELDS) {
    known.add(f.key);
    for (const a of f.yamlAliases ?? []) known.add(a);
  }
  const sections = new Set([...known].map((k) => k.split(".")[0]));
  const out: string[] = [];
  for (const [section, body] of Object.entries(doc)) {
    // Keyed by names the operator chooses: destinations.ts checks them.
    if (section === "destinations" || section === "sources") continue;
    if (!sections.has(section)) {
      out.push(section);
      continue;
    }
    if (body === null || body === undefined) continue;
    if (typeof body !== "object" || Array.isArray(body)) {
      out.push(section);
      continue;
    }
    for (const key of Object.keys(body)) {
      if (!known.has(`${section}.${key}`)) out.push(`${section}.${key}`);
    }
  }
  return out;
}

/** Parses the configuration once: flags over env over file over defaults. Reports every problem. */
export function loadConfig(input: LoadInput): LoadResult {
  const problems: string[] = [];
  const notes: string[] = [];
  const sources: LoadResult["sources"] = {};
  let doc: Record<string, unknown> = {};
  if (input.fileText !== undefined) {
    const { value: parsed, problems: yamlProblems } = parseConfigYaml(input.fileText);
    for (const p of yamlProblems) problems.push(`${input.filePath ?? "config file"}: ${p}`);
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== "object" || Array.isArray(parsed)) {
        problems.push(`${input.filePath ?? "config file"}: the top level must be a mapping`);
      } else doc = parsed as Record<string, unknown>;
    }
    for (const key of unknownKeys(doc)) {
      if (OLD_SERVICE_KEYS.has(key)) {
        notes.push(
          `${input.filePath ?? "config file"}: "${key}" is a setting of the old service ` +
            "that dhis2gw does not use; ignored",
        );
      } else problems.push(`${input.filePath ?? "config file"}: unknown key "${key}"`);
    }
  }

  const out: Record<string, unknown> = {};
  for (const field of FIELDS) {
    let raw: unknown = field.default;
    let source: Source = "default";
    let name: string | undefined;
    for (const key of [field.key, ...(field.yamlAliases ?? [])]) {
      const hit = getPath(doc, key);
      if (hit.found && hit.value !== undefined) {
        raw = hit.value;
        source = "file";
        name = key;
        break;
      }
    }
    for (const envName of field.env) {
      const v = input.env[envName];
      if (v !== undefined) {
        raw = v;
        source = "env";
        name = envName;
        break;
      }
    }
    const flag = input.flags?.[field.key];
    if (flag !== undefined) {
      raw = flag;
      source = "flag";
      name = field.key;
    }
    const { value, error } = coerce(field.type, raw);
    if (error) {
      const where = source === "env"
        ? `env ${name}`
        : source === "file"
        ? `YAML key ${name}`
        : source === "flag"
        ? "command-line flag"
        : "default";
      problems.push(`${describe(field)}: ${error} (set by ${where})`);
      continue;
    }
    setPath(out, field.key, value);
    sources[field.key] = { source, name };
  }

  const cfg = out as unknown as Config;
  // Every problem at once: the checks across fields run even when a field failed (they skip
  // what is missing), so fixing one mistake never reveals another.
  problems.push(...crossChecks(cfg));
  if (cfg.api && cfg.server) {
    const routing = parseDestinations({
      destinations: doc.destinations,
      sources: doc.sources,
      api: cfg.api,
      timezone: cfg.server.timezone,
      env: input.env,
      readFile: input.readFile ?? ((path) => Deno.readTextFileSync(path)),
    });
    problems.push(...routing.problems.map((p) => `${input.filePath ?? "config file"}: ${p}`));
    cfg.destinations = routing.destinations;
    cfg.sources = routing.sources;
  }
  const warnings = configWarnings(cfg);
  if (problems.length > 0) return { problems, notes, warnings, sources };
  return { config: deepFreeze(cfg), problems, notes, warnings, sources };
}

function crossChecks(parsed: Config): string[] {
  const problems: string[] = [];
  // A field that failed its own check is absent: its section may be too.
  const cfg = {
    database: parsed.database ?? {},
    server: parsed.server ?? {},
    api: parsed.api ?? {},
    auth: parsed.auth ?? {},
    metrics: parsed.metrics ?? {},
  } as Config;
  const dbUri = cfg.database.uri;
  if (dbUri && !/^postgres(ql)?:\/\//.test(dbUri)) {
    problems.push("database.uri (env DHIS2GW_DB): must start with postgres:// or postgresql://");
  }
  if (
    cfg.server.tls_cert !== undefined && cfg.server.tls_key !== undefined &&
    !cfg.server.tls_cert !== !cfg.server.tls_key
  ) {
    problems.push(
      "server.tls_cert (env DHIS2GW_TLS_CERT) and server.tls_key (env DHIS2GW_TLS_KEY): set both or neither",
    );
  }
  const base = cfg.api.dhis2_base_url;
  if (base) {
    try {
      const u = new URL(base);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    } catch {
      problems.push("api.dhis2_base_url (env DHIS2GW_DHIS2_BASE_URL): must be an http(s) URL");
    }
  }
  if (cfg.api.dhis2_version && !/^2\.\d{2}(\.\d+)?$/.test(cfg.api.dhis2_version)) {
    problems.push("api.dhis2_version (env DHIS2GW_DHIS2_VERSION): must look like 2.41 or 2.41.3");
  }
  if (cfg.auth.jwt_secret && new TextEncoder().encode(cfg.auth.jwt_secret).length < 32) {
    problems.push("auth.jwt_secret (env DHIS2GW_JWT_SECRET): must be at least 32 bytes");
  }
  try {
    if (cfg.server.timezone !== undefined) {
      new Intl.DateTimeFormat("en", { timeZone: cfg.server.timezone });
    }
  } catch {
    problems.push(`server.timezone (env DHIS2GW_TIMEZONE): unknown time zone`);
  }
  try {
    if (cfg.server.cors_origins !== undefined) corsOrigins(cfg.server.cors_origins);
  } catch (err) {
    problems.push((err as Error).message);
  }
  for (const error of parseCidrList(cfg.server.trusted_proxies ?? "").errors) {
    problems.push(`server.trusted_proxies (env DHIS2GW_TRUSTED_PROXIES): ${error}`);
  }
  if (cfg.metrics.token && cfg.metrics.token.length < 16) {
    problems.push("metrics.token (env DHIS2GW_METRICS_TOKEN): must be at least 16 characters");
  }
  if (cfg.metrics.port !== 0 && cfg.metrics.port === cfg.server.port) {
    problems.push("metrics.port (env DHIS2GW_METRICS_PORT): must differ from server.port");
  }
  if (cfg.server.retry_backoff_max < cfg.server.retry_backoff_base) {
    problems.push(
      "server.retry_backoff_max (env DHIS2GW_RETRY_BACKOFF_MAX): must be >= retry_backoff_base",
    );
  }
  return problems;
}

function deepFreeze<T>(obj: T): Readonly<T> {
  if (obj && typeof obj === "object") {
    for (const v of Object.values(obj)) deepFreeze(v);
    Object.freeze(obj);
  }
  return obj;
}

/** Every secret value in the config, so the logger can scrub them wherever they appear. */
export function secretValues(cfg: Config): string[] {
  const out: string[] = [];
  for (const f of FIELDS) {
    if (!f.secret) continue;
    const v = getPath(cfg, f.key).value;
    if (typeof v === "string" && v.length >= 4) out.push(v);
  }
  out.push(...urlSecrets(cfg.database.uri).map((p) => p.value));
  for (const d of Object.values(cfg.destinations ?? {})) {
    for (const v of [d.password, d.pat]) if (v.length >= 4) out.push(v);
  }
  return out;
}

/** The effective configuration with every secret redacted, as `config check` prints it. */
export function redactedView(cfg: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const v = getPath(cfg, f.key).value;
    let shown = v;
    if (f.key === "database.uri") shown = redactUrl(String(v));
    else if (f.secret) shown = v ? "REDACTED" : "";
    setPath(out, f.key, shown);
  }
  out.destinations = Object.fromEntries(
    Object.entries(cfg.destinations ?? {}).map(([n, d]) => [n, redactDestination(d)]),
  );
  out.sources = cfg.sources ?? {};
  return out;
}

/**
 * The config's destinations; a Config built by hand (tests) without the section gets the one
 * `default` its api.* keys describe.
 */
export function destinationsOf(cfg: Readonly<Config>): Readonly<Record<string, DestinationConfig>> {
  if (cfg.destinations) return cfg.destinations;
  return parseDestinations({
    destinations: undefined,
    sources: undefined,
    api: cfg.api,
    timezone: cfg.server.timezone,
    env: {},
    readFile: () => "",
  }).destinations;
}

export type { DestinationConfig, SourceRouting };
