/**
 * Names for the UIDs the console shows (org units, data sets, data elements), from a cached
 * snapshot of DHIS2's metadata: each data set once with its elements' names (the §7.2 read the
 * importer uses), org units 100 ids per request. Kept an hour; a DHIS2 that does not answer
 * costs one short wait, then the console shows bare UIDs for a minute before asking again.
 *
 * Also the other way round, for filters: a name or code typed where a UID is expected becomes
 * the UID when the snapshot knows it, or when DHIS2 knows that org unit code.
 */
import type { Config } from "../config/config.ts";
import { createDhis2Client, type Dhis2Client } from "../dhis2/client.ts";
import { isUid } from "../dhis2/uid.ts";
import { liveApiAuth } from "../aggregate/destination.ts";

export type NamesClient = Pick<Dhis2Client, "getDataSet" | "getOrganisationUnits">;
export type MetadataKind = "orgUnit" | "dataSet" | "dataElement";

interface Entry {
  name: string;
  code?: string;
  at: number;
}

const KEEP_MS = 3600_000;
const BACK_OFF_MS = 60_000;
/**
 * Entries per kind (and ids known to be missing) kept at most, the oldest dropped first:
 * expiry alone let every org unit a console ever showed stay an hour. 20,000 names are about
 * 4 MB, more than a district's org units and data elements.
 */
const MAX_ENTRIES = 20_000;

/** Map.set as the newest entry, dropping the oldest past `max` (a Map keeps insertion order). */
function setNewest<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  while (map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}

export class MetadataNames {
  readonly #known: Record<MetadataKind, Map<string, Entry>> = {
    orgUnit: new Map(),
    dataSet: new Map(),
    dataElement: new Map(),
  };
  /** Ids asked for and not found, or asked while DHIS2 was down: not asked again soon. */
  readonly #missing = new Map<string, number>();
  #downUntil = 0;

  constructor(
    private readonly client: NamesClient | null,
    private readonly now: () => number = Date.now,
    private readonly opts: { maxEntries?: number } = {},
  ) {}

  /** Names held (all kinds together) and ids remembered as missing. */
  get size(): { names: number; missing: number } {
    const k = this.#known;
    return {
      names: k.orgUnit.size + k.dataSet.size + k.dataElement.size,
      missing: this.#missing.size,
    };
  }

  get #max(): number {
    return this.opts.maxEntries ?? MAX_ENTRIES;
  }

  static fromConfig(config: Readonly<Config>): MetadataNames {
    const api = config.api;
    const client = api.dhis2_base_url
      ? createDhis2Client({
        baseUrl: api.dhis2_base_url,
        auth: liveApiAuth(config),
        // A page waits for this: short, whatever the delivery timeouts are.
        connectTimeoutMs: Math.min(api.dhis2_connect_timeout * 1000, 3000),
        timeoutMs: Math.min(api.dhis2_timeout * 1000, 5000),
      })
      : null;
    return new MetadataNames(client);
  }

  /** The cached name of `id`, if any (call `load` first). */
  name(kind: MetadataKind, id: string): string | undefined {
    const e = this.#known[kind].get(id);
    return e && this.now() - e.at < KEEP_MS ? e.name : undefined;
  }

  /** Makes sure names for these ids are cached, asking DHIS2 for the missing ones. */
  async load(want: { orgUnits?: string[]; dataSets?: string[] }): Promise<void> {
    if (!this.client || this.now() < this.#downUntil) return;
    const fresh = (kind: MetadataKind, id: string) =>
      isUid(id) && this.name(kind, id) === undefined &&
      !((this.#missing.get(`${kind}:${id}`) ?? 0) > this.now());
    const dataSets = [...new Set(want.dataSets ?? [])].filter((id) => fresh("dataSet", id));
    const orgUnits = [...new Set(want.orgUnits ?? [])].filter((id) => fresh("orgUnit", id));
    await Promise.all([
      ...dataSets.slice(0, 10).map((id) => this.#loadDataSet(id)),
      orgUnits.length ? this.#loadOrgUnits(orgUnits.slice(0, 500)) : undefined,
    ]);
  }

  /**
   * A filter's value as a UID: a UID as it is; a name or code the snapshot knows (any case);
   * for org units, a code DHIS2 knows. Otherwise the text itself (the API then says why).
   */
  async resolve(kind: "orgUnit" | "dataSet", text: string): Promise<string> {
    const t = text.trim();
    if (t === "" || isUid(t)) return t;
    const hit = this.#search(kind, t);
    if (hit || kind !== "orgUnit" || !this.client || this.now() < this.#downUntil) return hit ?? t;
    const read = await this.client.getOrganisationUnits([t], "code");
    if (!read.ok) {
      this.#downUntil = this.now() + BACK_OFF_MS;
      return t;
    }
    for (const o of read.value) this.#put("orgUnit", o.id, o.name, o.code);
    return read.value[0]?.id ?? t;
  }

  /** `resolve` without asking DHIS2: a name or code the snapshot knows, else the text. */
  resolveCached(kind: MetadataKind, text: string): string {
    const t = text.trim();
    return t === "" || isUid(t) ? t : this.#search(kind, t) ?? t;
  }

  #search(kind: MetadataKind, text: string): string | undefined {
    const lower = text.toLowerCase();
    for (const [id, e] of this.#known[kind]) {
      if (e.name.toLowerCase() === lower || e.code?.toLowerCase() === lower) return id;
    }
    return undefined;
  }

  #put(kind: MetadataKind, id: string, name?: string, code?: string) {
    if (name) setNewest(this.#known[kind], id, { name, code, at: this.now() }, this.#max);
  }

  async #loadDataSet(id: string) {
    const read = await this.client!.getDataSet(id);
    if (!read.ok) {
      this.#downUntil = this.now() + BACK_OFF_MS;
      return;
    }
    const ds = read.value;
    if (!ds) {
      setNewest(this.#missing, `dataSet:${id}`, this.now() + KEEP_MS, this.#max);
      return;
    }
    this.#put("dataSet", ds.id, ds.name, ds.code);
    for (const e of ds.dataSetElements ?? []) {
      this.#put("dataElement", e.dataElement.id, e.dataElement.name, e.dataElement.code);
    }
  }

  async #loadOrgUnits(ids: string[]) {
    const read = await this.client!.getOrganisationUnits(ids);
    if (!read.ok) {
      this.#downUntil = this.now() + BACK_OFF_MS;
      return;
    }
    for (const o of read.value) this.#put("orgUnit", o.id, o.name, o.code);
    const found = new Set(read.value.map((o) => o.id));
    for (const id of ids) {
      if (!found.has(id)) {
        setNewest(this.#missing, `orgUnit:${id}`, this.now() + KEEP_MS, this.#max);
      }
    }
  }
}
