/**
 * The running configuration, replaceable by a reload (SIGHUP) without a restart.
 *
 * `view` is what the gateway's parts are given instead of the frozen config: an object whose
 * sections are read from the current config on every access, so code that reads a setting when
 * it uses it (`config.server.body_limit` in a request, `config.api` in the DHIS2 client's
 * credentials) sees a reload at once. A reload applies only LIVE_KEYS; every other changed key
 * keeps its running value and is reported as needing a restart, so the view never claims a
 * port or database the process is not using.
 */
import type { Config } from "./config.ts";
import { FIELDS } from "./fields.ts";

/** Settings a reload applies; each is read where it is used, not copied at start. */
export const LIVE_KEYS: ReadonlySet<string> = new Set([
  "server.log_level",
  "server.body_limit",
  "server.cors_origins",
  "server.trusted_proxies",
  "mappings.import_max_bytes",
  "mappings.import_max_rows",
  "api.dhis2_auth_method",
  "api.dhis2_user",
  "api.dhis2_password",
  "api.dhis2_pat",
]);

export interface ReloadResult {
  /** Keys whose new value is now in force. */
  applied: string[];
  /** Keys that changed in the file but keep their running value until a restart. */
  restartNeeded: string[];
}

function get(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const part of path.split(".")) cur = (cur as Record<string, unknown> | undefined)?.[part];
  return cur;
}

function set(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let cur = obj;
  for (const part of parts.slice(0, -1)) cur = cur[part] as Record<string, unknown>;
  cur[parts[parts.length - 1]] = value;
}

function freeze<T>(obj: T): Readonly<T> {
  if (obj && typeof obj === "object") {
    for (const v of Object.values(obj)) freeze(v);
    Object.freeze(obj);
  }
  return obj;
}

export class LiveConfig {
  #current: Readonly<Config>;
  readonly view: Readonly<Config>;

  constructor(initial: Readonly<Config>) {
    this.#current = initial;
    const view: Record<string, unknown> = {};
    for (const section of Object.keys(initial)) {
      Object.defineProperty(view, section, {
        enumerable: true,
        get: () => (this.#current as unknown as Record<string, unknown>)[section],
      });
    }
    this.view = Object.freeze(view) as unknown as Readonly<Config>;
  }

  get current(): Readonly<Config> {
    return this.#current;
  }

  /** Takes the live keys of `next`; the result says what changed and what waits for a restart. */
  apply(next: Readonly<Config>): ReloadResult {
    const result: ReloadResult = { applied: [], restartNeeded: [] };
    const merged = structuredClone(this.#current) as unknown as Record<string, unknown>;
    for (const f of FIELDS) {
      const before = get(this.#current, f.key);
      const after = get(next, f.key);
      if (before === after) continue;
      if (LIVE_KEYS.has(f.key)) {
        set(merged, f.key, after);
        result.applied.push(f.key);
      } else result.restartNeeded.push(f.key);
    }
    if (result.applied.length) this.#current = freeze(merged as unknown as Config);
    return result;
  }
}
