/**
 * The configured DHIS2 as a delivery destination: one client (api.dhis2_*), and the kinds that
 * send through it (aggregate today; tracker will join here). None without api.dhis2_base_url.
 */
import type { Config } from "../config/config.ts";
import { createDhis2Client, type Dhis2Auth } from "../dhis2/client.ts";
import type { Destination } from "../queue/kind.ts";
import { aggregateKind } from "./kind.ts";

export function dhis2Auth(api: Config["api"]): Dhis2Auth {
  return api.dhis2_auth_method === "pat"
    ? { method: "pat", token: api.dhis2_pat }
    : { method: "basic", username: api.dhis2_user, password: api.dhis2_password };
}

export function dhis2Destination(config: Readonly<Config>): Destination | null {
  const api = config.api;
  if (!api.dhis2_base_url) return null;
  // Read per request: a reload (SIGHUP) swaps config.api when the credentials are rotated.
  let memo: { api: Config["api"]; auth: Dhis2Auth } | undefined;
  const client = createDhis2Client({
    baseUrl: api.dhis2_base_url,
    auth: () => {
      if (memo?.api !== config.api) memo = { api: config.api, auth: dhis2Auth(config.api) };
      return memo.auth;
    },
    connectTimeoutMs: api.dhis2_connect_timeout * 1000,
    timeoutMs: api.dhis2_timeout * 1000,
    importOptions: {
      importStrategy: api.import_strategy,
      idScheme: api.id_scheme,
      ...(api.dry_run ? { dryRun: true } : {}),
    },
  });
  return {
    address: client.apiUrl,
    kinds: [aggregateKind({ client, saveResponse: api.save_response })],
  };
}
