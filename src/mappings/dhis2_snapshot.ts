/**
 * One snapshot of the DHIS2 metadata an import's rows refer to, for `validate=dhis2`: a few
 * requests per import (one per data set, data elements and org units 100 ids per request),
 * never one per row. Uses the §7.2 recipes through the DHIS2 client.
 */
import type { Config } from "../config/config.ts";
import { createDhis2Client, type Dhis2Client, type Dhis2Read } from "../dhis2/client.ts";
import { AppError } from "../http/errors.ts";
import type { MetadataSnapshot, ValidRow } from "./validate.ts";

export type MetadataClient = Pick<
  Dhis2Client,
  "apiUrl" | "getDataSet" | "getDataElements" | "getOrganisationUnits"
>;

/** Data sets are fetched a few at a time: one DHIS2 must not see an import as a burst. */
const DATA_SET_CONCURRENCY = 4;

function unreachable(client: MetadataClient, read: Dhis2Read<unknown>): AppError {
  const why = read.ok ? "" : read.error;
  return new AppError(
    "bad_gateway",
    `validate=dhis2: could not read metadata from DHIS2 at ${client.apiUrl} (${why}); ` +
      "nothing was imported. Try again later, or import without validate=dhis2.",
  );
}

async function must<T>(client: MetadataClient, p: Promise<Dhis2Read<T>>): Promise<T> {
  const read = await p;
  if (!read.ok) throw unreachable(client, read);
  return read.value;
}

/**
 * Fetches what `rows` name, plus `extraDataSets` (the configured default data set: rows without
 * a data set are submitted against it). Throws a 502 AppError when DHIS2 cannot be read.
 */
export async function fetchMetadataSnapshot(
  client: MetadataClient,
  rows: readonly ValidRow[],
  extraDataSets: readonly string[] = [],
): Promise<MetadataSnapshot> {
  const dataSetIds = new Set(extraDataSets.filter((id) => id !== ""));
  const dataElementIds = new Set<string>();
  const orgUnitIds = new Set<string>();
  for (const { mapping: m } of rows) {
    if (m.what === "ou") {
      orgUnitIds.add(m.destinationOrgUnit);
      continue;
    }
    dataElementIds.add(m.dataElement);
    if (m.dataSet !== "") dataSetIds.add(m.dataSet);
  }

  const dsIds = [...dataSetIds];
  const dataSetsP = (async () => {
    const out = [];
    for (let i = 0; i < dsIds.length; i += DATA_SET_CONCURRENCY) {
      const chunk = dsIds.slice(i, i + DATA_SET_CONCURRENCY);
      out.push(...await Promise.all(chunk.map((id) => must(client, client.getDataSet(id)))));
    }
    return out;
  })();
  const [dataSets, dataElements, orgUnits] = await Promise.all([
    dataSetsP,
    dataElementIds.size ? must(client, client.getDataElements([...dataElementIds])) : [],
    orgUnitIds.size ? must(client, client.getOrganisationUnits([...orgUnitIds])) : [],
  ]);

  const cocsByDataElement = new Map<string, Set<string>>();
  const cocsOf = (id: string) => {
    let set = cocsByDataElement.get(id);
    if (!set) cocsByDataElement.set(id, set = new Set());
    return set;
  };
  for (const de of dataElements) {
    const set = cocsOf(de.id);
    for (const coc of de.categoryCombo?.categoryOptionCombos ?? []) set.add(coc.id);
  }
  const snapshotDataSets = new Map<
    string,
    { dataElements: Set<string>; attributeOptionCombos: Set<string> }
  >();
  for (const ds of dataSets) {
    if (!ds) continue; // 404: validateAgainstMetadata reports the unknown data set
    const members = new Set<string>();
    for (const dse of ds.dataSetElements ?? []) {
      members.add(dse.dataElement.id);
      // A data set may give an element another category combo (§7.2); its option combos are
      // then valid for that element too. Only for elements that exist, so an unknown one is
      // still reported as unknown.
      if (cocsByDataElement.has(dse.dataElement.id)) {
        const set = cocsOf(dse.dataElement.id);
        for (const coc of dse.categoryCombo?.categoryOptionCombos ?? []) set.add(coc.id);
      }
    }
    snapshotDataSets.set(ds.id, {
      dataElements: members,
      attributeOptionCombos: new Set(
        (ds.categoryCombo?.categoryOptionCombos ?? []).map((c) => c.id),
      ),
    });
  }
  return {
    dataElements: new Map(
      [...cocsByDataElement].map(([id, cocs]) => [id, { categoryComboOptionCombos: cocs }]),
    ),
    dataSets: snapshotDataSets,
    orgUnits: new Set(orgUnits.map((o) => o.id)),
  };
}

/** The configured DHIS2, or a 400 naming the missing setting. */
export function metadataClientFromConfig(config: Readonly<Config>): MetadataClient {
  const a = config.api;
  if (!a.dhis2_base_url) {
    throw new AppError(
      "bad_request",
      "validate=dhis2 needs a DHIS2 to ask: api.dhis2_base_url (DHIS2GW_DHIS2_BASE_URL) is not set",
    );
  }
  return createDhis2Client({
    baseUrl: a.dhis2_base_url,
    auth: a.dhis2_auth_method === "pat"
      ? { method: "pat", token: a.dhis2_pat }
      : { method: "basic", username: a.dhis2_user, password: a.dhis2_password },
    connectTimeoutMs: a.dhis2_connect_timeout * 1000,
    timeoutMs: a.dhis2_timeout * 1000,
  });
}
