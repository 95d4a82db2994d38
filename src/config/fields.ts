/**
 * Every configuration key dhis2gw knows, in one table: its YAML path, the env vars that set it
 * (the first is the documented one; the rest are the old Go service's names, kept as aliases),
 * its type, default and whether it is a secret. The loader, `config check`, the sample
 * `dhis2gw.yml` test and the README all read from here, so they cannot drift apart.
 */
export type FieldType =
  | { kind: "string" }
  | { kind: "int"; min?: number; max?: number }
  | { kind: "bool" }
  | { kind: "enum"; values: readonly string[]; aliases?: Record<string, string> };

export interface Field {
  key: string;
  env: readonly string[];
  type: FieldType;
  default: string | number | boolean;
  secret?: boolean;
  /** Older YAML keys for the same setting (the Go service's `server.http_port`). */
  yamlAliases?: readonly string[];
  doc: string;
}

const str = { kind: "string" } as const;
const bool = { kind: "bool" } as const;
const int = (min?: number, max?: number): FieldType => ({ kind: "int", min, max });

export const FIELDS: readonly Field[] = [
  // database
  {
    key: "database.uri",
    env: ["DHIS2GW_DB"],
    type: str,
    default: "",
    secret: true,
    doc: "PostgreSQL URL (>= 13). Empty: the embedded PostgreSQL under <data_dir>/postgres.",
  },
  {
    key: "database.pool_max",
    env: ["DHIS2GW_DB_POOL_MAX"],
    type: int(1, 500),
    default: 20,
    doc: "Connections per process.",
  },
  {
    key: "database.embedded_os_user",
    env: ["DHIS2GW_EMBEDDED_OS_USER"],
    type: str,
    default: "dhis2gw",
    doc:
      "When dhis2gw runs as root: the OS user the embedded PostgreSQL runs as (created on Linux if missing).",
  },
  {
    key: "database.connect_timeout",
    env: ["DHIS2GW_DB_CONNECT_TIMEOUT"],
    type: int(1, 300),
    default: 5,
    doc: "Seconds to wait for a database connection before the request gets a 503.",
  },
  {
    key: "database.statement_timeout",
    env: ["DHIS2GW_DB_STATEMENT_TIMEOUT"],
    type: int(0, 86400),
    default: 30,
    doc: "Seconds a statement may run before PostgreSQL cancels it (a 503); 0: no limit.",
  },
  // server
  {
    key: "server.host",
    env: ["DHIS2GW_HOST"],
    type: str,
    default: "0.0.0.0",
    doc: "Address to listen on.",
  },
  {
    key: "server.port",
    env: ["DHIS2GW_SERVER_PORT"],
    type: int(0, 65535),
    default: 9090,
    yamlAliases: ["server.http_port"],
    doc: "HTTP port (0 picks a free one).",
  },
  {
    key: "server.data_dir",
    env: ["DHIS2GW_DATA_DIR"],
    type: str,
    default: "./dhis2gw-data",
    doc: "Folder for the embedded database and local state.",
  },
  {
    key: "server.max_retries",
    env: ["DHIS2GW_MAX_RETRIES"],
    type: int(0, 1000),
    default: 8,
    doc: "Retries after the first delivery attempt before a submission is dead.",
  },
  {
    key: "server.max_concurrent",
    env: ["DHIS2GW_MAX_CONCURRENT"],
    type: int(1, 1000),
    default: 8,
    doc: "DHIS2 requests in flight per process and destination: a delivery each, or a " +
      "batch each with batching on (destinations.<name>.max_concurrent bounds all replicas " +
      "together).",
  },
  {
    key: "server.request_process_interval",
    env: ["DHIS2GW_REQUEST_PROCESS_INTERVAL"],
    type: int(1, 3600),
    default: 5,
    doc: "Seconds between queue polls when no notification arrives.",
  },
  {
    key: "server.lease_seconds",
    env: ["DHIS2GW_LEASE_SECONDS"],
    type: int(5, 86400),
    default: 120,
    doc: "How long a claimed delivery stays locked before the rescuer returns it.",
  },
  {
    key: "server.retry_backoff_base",
    env: ["DHIS2GW_RETRY_BACKOFF_BASE"],
    type: int(1, 86400),
    default: 15,
    doc: "Seconds before the first retry; doubles each attempt.",
  },
  {
    key: "server.retry_backoff_max",
    env: ["DHIS2GW_RETRY_BACKOFF_MAX"],
    type: int(1, 604800),
    default: 3600,
    doc: "Cap on the retry delay in seconds.",
  },
  {
    key: "server.retention_days",
    env: ["DHIS2GW_RETENTION_DAYS"],
    type: int(0, 36500),
    default: 90,
    doc: "Finished submissions older than this are pruned (0 keeps them forever).",
  },
  {
    key: "server.body_limit",
    env: ["DHIS2GW_BODY_LIMIT"],
    type: int(1024),
    default: 1048576,
    doc: "Largest request body in bytes (mapping imports use mappings.import_max_bytes).",
  },
  {
    key: "server.shutdown_grace",
    env: ["DHIS2GW_SHUTDOWN_GRACE"],
    type: int(0, 600),
    default: 10,
    doc: "Seconds to finish in-flight requests on SIGTERM.",
  },
  {
    key: "server.cors_origins",
    env: ["DHIS2GW_CORS_ORIGINS"],
    type: str,
    default: "*",
    doc: "Origins whose pages may call /api: * (any), comma-separated origins, or empty (none).",
  },
  {
    key: "server.logdir",
    env: ["DHIS2GW_LOGDIR"],
    type: str,
    default: "",
    doc: "Kept for old configs; logs go to stdout as JSON.",
  },
  {
    key: "server.timezone",
    env: ["DHIS2GW_TIMEZONE"],
    type: str,
    default: "UTC",
    doc: "IANA zone for day-based filters (from_date/to_date) and cron.",
  },
  {
    key: "server.log_level",
    env: ["DHIS2GW_LOG_LEVEL"],
    type: { kind: "enum", values: ["debug", "info", "warn", "error"] },
    default: "info",
    doc: "debug | info | warn | error.",
  },
  {
    key: "server.trusted_proxies",
    env: ["DHIS2GW_TRUSTED_PROXIES"],
    type: str,
    default: "127.0.0.0/8,::1",
    doc: "Proxies (IPs/CIDRs, comma-separated) whose X-Forwarded-For names the client.",
  },
  {
    key: "server.tls_cert",
    env: ["DHIS2GW_TLS_CERT"],
    type: str,
    default: "",
    doc:
      "PEM certificate (chain) file: serve HTTPS. Set with tls_key; read again on SIGHUP (Linux) or restart.",
  },
  {
    key: "server.tls_key",
    env: ["DHIS2GW_TLS_KEY"],
    type: str,
    default: "",
    doc: "PEM private key file for server.tls_cert (readable by the gateway's user only).",
  },
  // api (DHIS2 destination and submission behaviour)
  {
    key: "api.dhis2_base_url",
    env: ["DHIS2GW_DHIS2_BASE_URL", "dhis2_base_url"],
    type: str,
    default: "",
    doc: "DHIS2 base URL, with or without /api.",
  },
  {
    key: "api.dhis2_user",
    env: ["DHIS2GW_DHIS2_USER", "dhis2_user"],
    type: str,
    default: "",
    doc: "DHIS2 user for Basic auth.",
  },
  {
    key: "api.dhis2_password",
    env: ["DHIS2GW_DHIS2_PASSWORD", "dhis2_password"],
    type: str,
    default: "",
    secret: true,
    doc: "DHIS2 password for Basic auth.",
  },
  {
    key: "api.dhis2_pat",
    env: ["DHIS2GW_DHIS2_PAT", "dhis2_pat"],
    type: str,
    default: "",
    secret: true,
    doc: "DHIS2 personal access token (sent as ApiToken).",
  },
  {
    key: "api.dhis2_auth_method",
    env: ["DHIS2GW_DHIS2_AUTH_METHOD", "dhis2_auth_method"],
    type: { kind: "enum", values: ["basic", "pat"], aliases: { token: "pat", apitoken: "pat" } },
    default: "basic",
    doc: "basic | pat.",
  },
  {
    key: "api.dhis2_timeout",
    env: ["DHIS2GW_DHIS2_TIMEOUT"],
    type: int(1, 3600),
    default: 60,
    doc: "Seconds one DHIS2 call may take in all.",
  },
  {
    key: "api.dhis2_connect_timeout",
    env: ["DHIS2GW_DHIS2_CONNECT_TIMEOUT"],
    type: int(1, 600),
    default: 10,
    doc: "Seconds to wait for DHIS2's reply headers on reads (system/info, metadata). The " +
      "import POST is bounded by api.dhis2_timeout only: DHIS2 answers it after the import ran.",
  },
  {
    key: "api.mapping_scheme",
    env: ["DHIS2GW_MAPPING_SCHEME", "mapping_scheme"],
    type: { kind: "enum", values: ["CODE", "UID"], aliases: { code: "CODE", uid: "UID" } },
    default: "CODE",
    doc: "CODE: keys are mapping codes. UID: keys are data element UIDs (optionally .coc).",
  },
  {
    key: "api.unmapped_codes",
    env: ["DHIS2GW_UNMAPPED_CODES"],
    type: { kind: "enum", values: ["reject", "ignore"] },
    default: "reject",
    doc: "reject: 422 listing unmapped codes. ignore: drop them and list them in the reply.",
  },
  {
    key: "api.save_response",
    env: ["DHIS2GW_SAVE_RESPONSE", "save_response"],
    type: bool,
    default: true,
    doc: "Keep full DHIS2 response bodies with each submission.",
  },
  {
    key: "api.complete_data_set",
    env: ["DHIS2GW_COMPLETE_DATA_SET"],
    type: bool,
    default: false,
    doc: "Default for a submission's `complete` (register data set completion).",
  },
  {
    key: "api.import_strategy",
    env: ["DHIS2GW_IMPORT_STRATEGY"],
    type: {
      kind: "enum",
      values: ["CREATE_AND_UPDATE", "CREATE", "UPDATE", "DELETE"],
    },
    default: "CREATE_AND_UPDATE",
    doc: "importStrategy sent to dataValueSets.",
  },
  {
    key: "api.id_scheme",
    env: ["DHIS2GW_ID_SCHEME"],
    type: { kind: "enum", values: ["UID", "CODE"] },
    default: "UID",
    doc: "idScheme sent to dataValueSets.",
  },
  {
    key: "api.dry_run",
    env: ["DHIS2GW_DHIS2_DRY_RUN"],
    type: bool,
    default: false,
    doc: "Ask DHIS2 to validate without saving (testing a new integration).",
  },
  {
    key: "api.dhis2_data_set",
    env: ["DHIS2GW_DHIS2_DATA_SET", "dhis2_data_set"],
    type: str,
    default: "",
    doc: "Default data set UID when a submission omits dataSet.",
  },
  {
    key: "api.dhis2_version",
    env: ["DHIS2GW_DHIS2_VERSION"],
    type: str,
    default: "",
    doc:
      "Target DHIS2 version (2.41 or 2.41.3) for period checks at intake, when /api/system/info can't be read; empty: accept what any 2.38–2.43 accepts.",
  },
  {
    key: "api.dhis2_attribute_option_combo",
    env: ["DHIS2GW_DHIS2_ATTRIBUTE_OPTION_COMBO", "dhis_2_attribute_option_combo"],
    type: str,
    default: "",
    doc: "Default attribute option combo UID.",
  },
  {
    key: "api.retry_cron_expression",
    env: ["DHIS2GW_RETRY_CRON", "retry_cron_expression"],
    type: str,
    default: "* * * * *",
    doc: "When the rescuer returns expired leases (a worker died) to the queue; one index probe.",
  },
  {
    key: "api.sync_cron_expression",
    env: ["DHIS2GW_PRUNE_CRON", "sync_cron_expression"],
    type: str,
    default: "0 3 * * *",
    doc: "When finished submissions older than retention_days are pruned.",
  },
  // auth
  {
    key: "auth.jwt_secret",
    env: ["DHIS2GW_JWT_SECRET"],
    type: str,
    default: "",
    secret: true,
    doc: "HS256 key, >= 32 bytes. Empty: generated once and kept in the database.",
  },
  {
    key: "auth.access_token_ttl",
    env: ["DHIS2GW_ACCESS_TOKEN_TTL"],
    type: int(30, 86400),
    default: 900,
    doc: "Access token lifetime in seconds.",
  },
  {
    key: "auth.refresh_token_ttl",
    env: ["DHIS2GW_REFRESH_TOKEN_TTL"],
    type: int(60, 31536000),
    default: 604800,
    doc: "Refresh token lifetime in seconds.",
  },
  {
    key: "auth.admin_username",
    env: ["DHIS2GW_ADMIN_USERNAME"],
    type: str,
    default: "admin",
    doc: "First admin, created on the first start with no users.",
  },
  {
    key: "auth.admin_password",
    env: ["DHIS2GW_ADMIN_PASSWORD"],
    type: str,
    default: "",
    secret: true,
    doc: "Its password. Empty: a strong one is generated and printed once.",
  },
  {
    key: "auth.login_max_failures",
    env: ["DHIS2GW_LOGIN_MAX_FAILURES"],
    type: int(1, 1000),
    default: 5,
    doc: "Failed logins per username or address before 429.",
  },
  {
    key: "auth.login_window",
    env: ["DHIS2GW_LOGIN_WINDOW"],
    type: int(1, 86400),
    default: 900,
    doc: "Seconds over which failed logins are counted, and the longest lock-out.",
  },
  {
    key: "auth.login_max_failures_address",
    env: ["DHIS2GW_LOGIN_MAX_FAILURES_ADDRESS"],
    type: int(1, 100000),
    default: 50,
    doc: "Failed logins from one client address before 429 (a whole office may share one).",
  },
  {
    key: "auth.credential_cache_ttl",
    env: ["DHIS2GW_CREDENTIAL_CACHE_TTL"],
    type: int(0, 300),
    default: 30,
    doc: "Seconds a checked credential is cached; bounds how late other replicas see a revoke.",
  },
  {
    key: "auth.token_max_lifetime_days",
    env: ["DHIS2GW_TOKEN_MAX_LIFETIME_DAYS"],
    type: int(1, 3650),
    default: 365,
    doc: "Longest an API token may live; a token created without an expiry gets this one.",
  },
  // mappings
  {
    key: "mappings.import_max_bytes",
    env: ["DHIS2GW_IMPORT_MAX_BYTES"],
    type: int(1024),
    default: 10485760,
    doc: "Largest mapping file accepted.",
  },
  {
    key: "mappings.import_max_rows",
    env: ["DHIS2GW_IMPORT_MAX_ROWS"],
    type: int(1),
    default: 100000,
    doc: "Most rows in one mapping file.",
  },
  {
    key: "mappings.cache_refresh",
    env: ["DHIS2GW_MAPPINGS_CACHE_REFRESH"],
    type: int(1, 3600),
    default: 5,
    doc: "Seconds within which every replica sees a mapping change.",
  },
  // tracker (src/tracker/)
  {
    key: "tracker.payload_retention_days",
    env: ["DHIS2GW_TRACKER_PAYLOAD_RETENTION_DAYS"],
    type: int(0, 3650),
    default: 30,
    doc:
      "Days a delivered tracker submission keeps its payloads (names, identifiers); then only outcome and UIDs stay. 0: purge at once.",
  },
  {
    key: "tracker.async_threshold",
    env: ["DHIS2GW_TRACKER_ASYNC_THRESHOLD"],
    type: int(1, 1000000),
    default: 50,
    doc:
      "Tracker payloads with at least this many objects are sent async=true and followed as a job.",
  },
  {
    key: "tracker.atomic_mode",
    env: ["DHIS2GW_TRACKER_ATOMIC_MODE"],
    type: { kind: "enum", values: ["ALL", "OBJECT"] },
    default: "ALL",
    doc: "atomicMode sent to /api/tracker: ALL imports nothing when one object fails.",
  },
  {
    key: "tracker.import_strategy",
    env: ["DHIS2GW_TRACKER_IMPORT_STRATEGY"],
    type: { kind: "enum", values: ["CREATE_AND_UPDATE", "CREATE", "UPDATE"] },
    default: "CREATE_AND_UPDATE",
    doc: "importStrategy sent to /api/tracker; CREATE_AND_UPDATE makes a resend an update.",
  },
  {
    key: "tracker.job_poll_interval",
    env: ["DHIS2GW_TRACKER_JOB_POLL_INTERVAL"],
    type: int(1, 3600),
    default: 2,
    doc: "Seconds between looks at a running async tracker job.",
  },
  {
    key: "tracker.job_timeout",
    env: ["DHIS2GW_TRACKER_JOB_TIMEOUT"],
    type: int(10, 86400),
    default: 3600,
    doc: "Seconds after which a job DHIS2 still lists as running is read back and resent.",
  },
  // metrics
  {
    key: "metrics.token",
    env: ["DHIS2GW_METRICS_TOKEN"],
    type: str,
    default: "",
    secret: true,
    doc:
      "Bearer token Prometheus sends to read GET /metrics (16+ characters). Empty: only admin and viewer credentials can read it.",
  },
  {
    key: "metrics.port",
    env: ["DHIS2GW_METRICS_PORT"],
    type: int(0, 65535),
    default: 0,
    doc:
      "A second port serving only GET /metrics and GET /health (on server.host), for `serve --worker-only`, which otherwise listens on none. 0: no second port.",
  },
  // batch
  {
    key: "batch.max_values",
    env: ["DHIS2GW_BATCH_MAX_VALUES"],
    type: int(0, 10000),
    default: 5000,
    doc:
      "Most data values in one dataValueSets import combining queued submissions of one data set (DHIS2's own sync sends 10,000); 0 sends each submission on its own.",
  },
  {
    key: "batch.max_wait_ms",
    env: ["DHIS2GW_BATCH_MAX_WAIT_MS"],
    type: int(0, 600000),
    default: 0,
    doc:
      "How long a batch lighter than max_values may wait for more submissions; 0 never waits (an idle gateway delivers at once, batches form under load).",
  },
];
