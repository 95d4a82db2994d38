/**
 * A configured DHIS2 as a delivery destination: one client (its URL, credentials, timeouts and
 * import options), and the kinds that send through it (aggregate today; tracker will join
 * here). None for a destination without a base URL (`default` when api.dhis2_base_url is unset).
 */
import { type Config, type DestinationConfig, destinationsOf } from "../config/config.ts";
import { createDhis2Client, type Dhis2Auth, type Dhis2Client } from "../dhis2/client.ts";
import type { Destination } from "../queue/kind.ts";
import { aggregateKind } from "./kind.ts";

type AuthFields = Pick<DestinationConfig, "auth_method" | "pat" | "user" | "password">;

/** A destination's credentials; api.* (the `default` destination's keys) are accepted too. */
export function dhis2Auth(a: AuthFields | Config["api"]): Dhis2Auth {
  const d: AuthFields = "dhis2_auth_method" in a
    ? {
      auth_method: a.dhis2_auth_method,
      pat: a.dhis2_pat,
      user: a.dhis2_user,
      password: a.dhis2_password,
    }
    : a;
  return d.auth_method === "pat"
    ? { method: "pat", token: d.pat }
    : { method: "basic", username: d.user, password: d.password };
}

/**
 * The destination's credentials, asked before every request. For `default` while it uses the
 * api.* credentials, they are read from the running config each time: a reload (SIGHUP) swaps
 * config.api when they are rotated. A destination's own block is fixed until a restart.
 */
export function liveAuth(d: DestinationConfig, config?: Readonly<Config>): () => Dhis2Auth {
  const fixed = dhis2Auth(d);
  if (!config || d.name !== "default") return () => fixed;
  const start = config.api;
  const fromApi = d.user === start.dhis2_user && d.password === start.dhis2_password &&
    d.pat === start.dhis2_pat && d.auth_method === start.dhis2_auth_method;
  if (!fromApi) return () => fixed;
  return liveApiAuth(config);
}

/**
 * api.*'s credentials as the running config has them, read at each call: every client of the
 * configured DHIS2 (deliveries, tracker, dry runs, console names) takes a rotation (SIGHUP).
 */
export function liveApiAuth(config: Readonly<Config>): () => Dhis2Auth {
  let memo: { api: Config["api"]; auth: Dhis2Auth } | undefined;
  return () => {
    if (memo?.api !== config.api) memo = { api: config.api, auth: dhis2Auth(config.api) };
    return memo.auth;
  };
}

export function destinationClient(d: DestinationConfig, config?: Readonly<Config>): Dhis2Client {
  return createDhis2Client({
    baseUrl: d.base_url,
    auth: liveAuth(d, config),
    connectTimeoutMs: d.connect_timeout * 1000,
    timeoutMs: d.timeout * 1000,
    importOptions: {
      importStrategy: d.import_strategy,
      idScheme: d.id_scheme,
      ...(d.dry_run ? { dryRun: true } : {}),
    },
  });
}

export function dhis2DestinationOf(
  d: DestinationConfig,
  saveResponse: boolean,
  config?: Readonly<Config>,
): Destination & { config: DestinationConfig } | null {
  if (!d.base_url) return null;
  const client = destinationClient(d, config);
  return {
    name: d.name,
    address: client.apiUrl,
    config: d,
    kinds: [aggregateKind({ client, saveResponse })],
  };
}

/** Every configured destination that can be delivered to, `default` first. */
export function dhis2Destinations(config: Readonly<Config>) {
  return Object.values(destinationsOf(config))
    .map((d) => dhis2DestinationOf(d, config.api.save_response, config))
    .filter((d) => d !== null);
}

/** The `default` destination alone (api.* keys), as before several destinations existed. */
export function dhis2Destination(config: Readonly<Config>): Destination | null {
  return dhis2DestinationOf(destinationsOf(config).default, config.api.save_response, config);
}
