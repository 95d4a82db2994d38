import { FIELDS } from "./fields.ts";

/** The sample dhis2gw.yml: every key, its default, its env var and what it does. */
export function sampleConfigYaml(): string {
  const lines = [
    "# dhis2gw configuration. Every key shows its default; every key can also be set by the",
    "# env var named beside it. Precedence: command-line flags, env vars, this file, defaults.",
    "# Secrets (marked) are better passed as env vars than written here.",
  ];
  let section = "";
  for (const f of FIELDS) {
    const [sec, key] = f.key.split(".");
    if (sec !== section) {
      lines.push("", `${sec}:`);
      section = sec;
      if (sec === "api") lines.push(...API_HEADER);
    }
    const aliases = f.env.length > 1 ? ` (also ${f.env.slice(1).join(", ")})` : "";
    const scope = sec !== "api"
      ? ""
      : DEFAULT_DESTINATION_KEYS.has(key)
      ? "[destination default] "
      : "[all destinations] ";
    lines.push(`  # ${scope}${f.doc}${f.secret ? " Secret." : ""}`);
    lines.push(`  # env: ${f.env[0]}${aliases}`);
    const v = f.default;
    const shown = typeof v === "string" ? JSON.stringify(v) : String(v);
    lines.push(`  ${key}: ${shown}`);
  }
  lines.push(...DESTINATIONS_EXAMPLE);
  return lines.join("\n") + "\n";
}

/** The api.* keys that describe the DHIS2 called `default` (config/destinations.ts). */
export const DEFAULT_DESTINATION_KEYS = new Set([
  "dhis2_base_url",
  "dhis2_user",
  "dhis2_password",
  "dhis2_pat",
  "dhis2_auth_method",
  "dhis2_timeout",
  "dhis2_connect_timeout",
  "import_strategy",
  "id_scheme",
  "dry_run",
  "dhis2_data_set",
  "dhis2_version",
  "dhis2_attribute_option_combo",
]);

const API_HEADER = [
  "  # Keys marked [destination default] describe the DHIS2 called `default`: a",
  "  # `destinations.default` block below may set the same things under their short names",
  "  # and wins. Keys marked [all destinations] are intake and delivery policies for every",
  "  # destination.",
];

const DESTINATIONS_EXAMPLE = [
  "",
  "# Further DHIS2 instances, and settings of `default` beyond api.* (all optional). Each:",
  "#   base_url, auth_method (basic | pat), user, password | password_env | password_file,",
  "#   pat | pat_env | pat_file (an env var's name or a file's path keeps the secret out of",
  "#   this file), version (used until /api/system/info answers), timeout, connect_timeout,",
  "#   import_strategy, id_scheme, dry_run, data_set, attribute_option_combo,",
  "#   instance_name (whose mappings apply; default: the destination's name, `default` for",
  "#   default), max_concurrent (requests in flight to it across ALL replicas; default 8),",
  "#   rate_limit (requests started per second across all replicas; 0: none), window",
  "#   (HH:MM-HH:MM local time when deliveries may start; empty: always), timezone (of the",
  "#   window; default server.timezone), copies (destinations that get a copy of every",
  "#   submission sent here), breaker: { failure_threshold: 5, cooldown_min: 30,",
  "#   cooldown_max: 300 } (seconds; the cool-down doubles from min to max while DHIS2",
  "#   stays down).",
  "# destinations:",
  "#   default:",
  "#     copies: [staging]",
  "#     max_concurrent: 4",
  "#   programme:",
  "#     base_url: https://programme.example.org",
  "#     auth_method: pat",
  "#     pat_file: /etc/dhis2gw/programme.pat",
  '#     window: "18:00-06:00"',
  "#     rate_limit: 5",
  "#   staging:",
  "#     base_url: https://staging.example.org",
  "#     user: gateway",
  "#     password_env: STAGING_DHIS2_PASSWORD",
  "#     breaker: { cooldown_min: 10, cooldown_max: 60 }",
  "",
  "# Which destination a source's submissions go to (default: `default`), and extra copies.",
  "# Each destination's mappings (its instance_name) must map every code, or intake answers",
  "# 422 naming the destination and the code.",
  "# sources:",
  "#   tb_app: { destination: programme, copies: [staging] }",
];
