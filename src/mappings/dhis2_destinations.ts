/**
 * validate=dhis2 with several destinations: each row is checked against the DHIS2 of every
 * destination whose `instance_name` is the row's instance (one metadata snapshot per
 * destination, as dhis2_snapshot.ts fetches it). A problem names its destination when more
 * than one DHIS2 is configured; rows of an instance no destination uses are reported, since
 * they cannot be checked.
 */
import { type Config, destinationsOf } from "../config/config.ts";
import { createDhis2Client } from "../dhis2/client.ts";
import { AppError } from "../http/errors.ts";
import type { Problem } from "./formats.ts";
import { fetchMetadataSnapshot, type MetadataClient } from "./dhis2_snapshot.ts";
import { validateAgainstMetadata, type ValidRow } from "./validate.ts";

export function checkAgainstDestinations(
  config: Readonly<Config>,
  /** A client to use for `default` (tests inject the simulator's). */
  defaultClient?: MetadataClient,
): (rows: readonly ValidRow[]) => Promise<Problem[]> {
  const dests = Object.values(destinationsOf(config));
  const several = dests.filter((d) => d.base_url).length > 1;
  return async (rows) => {
    const byInstance = new Map<string, ValidRow[]>();
    for (const r of rows) {
      const list = byInstance.get(r.mapping.instanceName) ?? [];
      list.push(r);
      byInstance.set(r.mapping.instanceName, list);
    }
    const problems: Problem[] = [];
    for (const [instance, group] of byInstance) {
      const targets = dests.filter((d) => d.instance_name === instance);
      if (!targets.length) {
        problems.push({
          row: group[0].row,
          column: "instance_name",
          value: instance,
          message: `no destination uses instance "${instance}": its rows cannot be checked ` +
            "against DHIS2 (set instance_name on a destination, or import without validate=dhis2)",
        });
        continue;
      }
      for (const d of targets) {
        const client = d.name === "default" && defaultClient ? defaultClient : clientOf(d);
        const snapshot = await fetchMetadataSnapshot(client, group, [d.data_set].filter(Boolean));
        const found = validateAgainstMetadata(group, snapshot);
        problems.push(
          ...(several
            ? found.map((p) => ({ ...p, message: `${p.message} (destination "${d.name}")` }))
            : found),
        );
      }
    }
    return problems;
  };
}

function clientOf(d: ReturnType<typeof destinationsOf>[string]): MetadataClient {
  if (!d.base_url) {
    throw new AppError(
      "bad_request",
      d.name === "default"
        ? "validate=dhis2 needs a DHIS2 to ask: api.dhis2_base_url (DHIS2GW_DHIS2_BASE_URL) is not set"
        : `validate=dhis2: destination "${d.name}" has no base_url`,
    );
  }
  return createDhis2Client({
    baseUrl: d.base_url,
    auth: d.auth_method === "pat"
      ? { method: "pat", token: d.pat }
      : { method: "basic", username: d.user, password: d.password },
    connectTimeoutMs: d.connect_timeout * 1000,
    timeoutMs: d.timeout * 1000,
  });
}
