/**
 * The submission path's view of the mappings: one instance's look-up columns held in memory,
 * so resolving a submission's codes costs map reads and no database round trip.
 *
 * Freshness: every change to dhis2_mappings moves dhis2_mapping_version in the same
 * transaction (a trigger). A started cache reads that one row every `refreshMs` and, when it
 * moved, reloads everything in the background while look-ups keep using the old snapshot; so a
 * change made by another replica is seen within refreshMs plus one reload. With `listen`, a
 * NOTIFY from the same trigger starts that check at once; polling still works alone, for a
 * LISTEN connection that dropped (a database restart) and missed a NOTIFY. In the process
 * that wrote, `invalidate()` makes the next look-up wait for a reload: an admin who just saved a
 * mapping never sees a submission resolved with the old one.
 *
 * A full reload rather than a delta: mappings change a few times a day and a reload of 100,000
 * rows takes well under a second (scripts/bench_mappings.ts measures it), while deltas would
 * need tombstones for deletes and ordering guarantees for concurrent writers.
 *
 * Bounded: an instance with more than `maxRows` rows (default 100,000: 20 MB of maps, measured)
 * is not held at all; its look-ups each read the database by index instead, one round trip a
 * submission, so memory stays flat whatever an import brings.
 */
import type { Db } from "../db/db.ts";
import type { Logger } from "../logs/logger.ts";
import { type DataValueMapping, INSTANCE_NAME, type MappingLookup } from "./lookup.ts";
import {
  lookupCodes,
  lookupOrgUnit,
  type LookupRow,
  lookupRows,
  mappingVersion,
} from "./queries.ts";

interface SourceMaps {
  de: Map<string, DataValueMapping>;
  ou: Map<string, string>;
}

interface Snapshot {
  version: number;
  bySource: Map<string, SourceMaps>;
  rows: number;
  /** Over maxRows: nothing held, look-ups read the database. */
  direct?: boolean;
}

/** Rows held in memory at most, per instance. */
export const MAX_CACHED_ROWS = 100_000;

export interface MappingCacheOptions {
  /** Seconds between version checks (mappings.cache_refresh). */
  refreshSeconds?: number;
  /** The instance whose mappings the submission path uses. */
  instance?: string;
  /** LISTEN for the trigger's NOTIFY. */
  listen?: boolean;
  /** Rows held at most (MAX_CACHED_ROWS); past it look-ups read the database. */
  maxRows?: number;
  log?: Logger;
  /** Called after every reload, for logs and tests. */
  onReload?: (info: { version: number; rows: number; ms: number }) => void;
}

const EMPTY: SourceMaps = { de: new Map(), ou: new Map() };

function toMapping(r: LookupRow): DataValueMapping {
  const m: DataValueMapping = { dataElement: r.dataelement };
  if (r.category_option_combo) m.categoryOptionCombo = r.category_option_combo;
  if (r.attribute_option_combo) m.attributeOptionCombo = r.attribute_option_combo;
  // Shared by every reply that contains it, so nobody may change it.
  return Object.freeze(m);
}

export function buildSnapshot(rows: readonly LookupRow[], version: number): Snapshot {
  const bySource = new Map<string, SourceMaps>();
  for (const r of rows) {
    let maps = bySource.get(r.source_name);
    if (!maps) bySource.set(r.source_name, maps = { de: new Map(), ou: new Map() });
    if (r.what === "de" && r.dataelement !== "") {
      maps.de.set(r.code, toMapping(r));
    } else if (r.what === "ou" && r.dest_orgunit !== "") {
      maps.ou.set(r.source_orgunit, r.dest_orgunit);
    }
  }
  return { version, bySource, rows: rows.length };
}

export class MappingCache implements MappingLookup {
  readonly #sql: Db;
  readonly #opts: MappingCacheOptions;
  readonly #instance: string;
  #snap: Snapshot | undefined;
  /** Moved by invalidate(); a snapshot is current only if loaded at the latest generation. */
  #gen = 0;
  #loadedGen = -1;
  #inflight: { gen: number; promise: Promise<Snapshot> } | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #checking: Promise<void> | undefined;
  #unlisten: (() => Promise<void>) | undefined;

  constructor(sql: Db, opts: MappingCacheOptions = {}) {
    this.#sql = sql;
    this.#opts = opts;
    this.#instance = opts.instance ?? INSTANCE_NAME;
  }

  async resolve(sourceName: string, codes: readonly string[]) {
    const snap = await this.#current();
    const out = new Map<string, DataValueMapping>();
    if (snap.direct) {
      const rows = await lookupCodes(this.#sql, this.#instance, sourceName, [...new Set(codes)]);
      const found = new Map(rows.filter((r) => r.dataelement !== "").map((r) => [r.code, r]));
      for (const code of codes) {
        const r = found.get(code);
        if (r) out.set(code, toMapping(r));
      }
      return out;
    }
    const maps = snap.bySource.get(sourceName) ?? EMPTY;
    for (const code of codes) {
      const m = maps.de.get(code);
      if (m) out.set(code, m);
    }
    return out;
  }

  async resolveOrgUnit(sourceName: string, code: string) {
    const snap = await this.#current();
    if (snap.direct) {
      const [r] = await lookupOrgUnit(this.#sql, this.#instance, sourceName, code);
      return r && r.dest_orgunit !== "" ? r.dest_orgunit : null;
    }
    return snap.bySource.get(sourceName)?.ou.get(code) ?? null;
  }

  /** Rows held in memory now (0 before the first load and over maxRows). */
  get heldRows(): number {
    return this.#snap && !this.#snap.direct ? this.#snap.rows : 0;
  }

  /** This process changed mappings: the next look-up waits for a reload. */
  invalidate(): void {
    this.#gen++;
  }

  /** The version the current snapshot was loaded at (-1 before the first load). */
  get version(): number {
    return this.#snap?.version ?? -1;
  }

  /** Loads now, then checks the version every refreshSeconds until stop(). */
  async start(): Promise<void> {
    await this.#load(this.#gen);
    const every = (this.#opts.refreshSeconds ?? 5) * 1000;
    this.#timer = setInterval(() => void this.check(), every);
    if (this.#opts.listen && "listen" in this.#sql) {
      const { unlisten } = await this.#sql.listen("dhis2gw_mappings", () => void this.check());
      this.#unlisten = unlisten;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#unlisten?.().catch(() => {});
    this.#unlisten = undefined;
    await this.#checking;
  }

  /**
   * Reloads if the stored version moved since the snapshot. Look-ups meanwhile keep the old
   * snapshot. A failed check keeps it too (the database may be briefly away) and is retried at
   * the next tick.
   */
  check(): Promise<void> {
    this.#checking ??= (async () => {
      try {
        const version = await mappingVersion(this.#sql);
        if (version !== this.#snap?.version) await this.#load(this.#gen);
      } catch (err) {
        this.#opts.log?.warn("could not refresh the mappings cache; using the last snapshot", {
          error: err as Error,
        });
      } finally {
        this.#checking = undefined;
      }
    })();
    return this.#checking;
  }

  #current(): Snapshot | Promise<Snapshot> {
    if (this.#snap && this.#loadedGen === this.#gen) return this.#snap;
    return this.#load(this.#gen);
  }

  /** One load per generation at a time: concurrent look-ups after a write share it. */
  #load(gen: number): Promise<Snapshot> {
    if (this.#inflight?.gen === gen) return this.#inflight.promise;
    const started = performance.now();
    const promise = (async () => {
      // Version first: the rows read after it are at least that new, so a change committed in
      // between is only ever reloaded once more, never missed.
      const version = await mappingVersion(this.#sql);
      const max = this.#opts.maxRows ?? MAX_CACHED_ROWS;
      // One row past the cap tells it is over without reading (and holding) the rest.
      const rows = await lookupRows(this.#sql, this.#instance, max + 1);
      const snap: Snapshot = rows.length > max
        ? { version, bySource: new Map(), rows: rows.length, direct: true }
        : buildSnapshot(rows, version);
      if (snap.direct && !this.#snap?.direct) {
        this.#opts.log?.warn(
          "more mappings than the cache holds: look-ups read the database, one query a submission",
          { instance: this.#instance, maxRows: max },
        );
      }
      // Two loads can overlap (a check and a write); never let the older one win.
      if (!this.#snap || gen >= this.#loadedGen) {
        if (!this.#snap || version >= this.#snap.version) this.#snap = snap;
        this.#loadedGen = Math.max(this.#loadedGen, gen);
      }
      const info = { version, rows: snap.rows, ms: Math.round(performance.now() - started) };
      this.#opts.log?.debug("mappings cache loaded", info);
      this.#opts.onReload?.(info);
      return this.#snap!;
    })().finally(() => {
      if (this.#inflight?.promise === promise) this.#inflight = undefined;
    });
    this.#inflight = { gen, promise };
    return promise;
  }
}
