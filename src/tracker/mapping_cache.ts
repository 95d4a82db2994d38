/**
 * Tracker mappings held in memory for the coded routes: a coded submission resolves its codes
 * in rounds (program, then stage, then data elements, then options), which were a query each,
 * every request. Like the aggregate mappings (src/mappings/cache.ts), with what differs:
 *
 * - Freshness: tracker_mappings has no version row or trigger, so a snapshot is trusted for
 *   `refreshSeconds` (mappings.cache_refresh) and the first look-up after that reloads it: a
 *   change by another replica (or by SQL) is seen within refreshSeconds, as for the aggregate
 *   mappings. A change through this process (PUT /api/v3/tracker/mappings) calls
 *   `invalidate()`, and the next look-up waits for a reload.
 * - Bounded the same way: past `maxRows` rows (all sources together) nothing is held and each
 *   look-up reads the database by the unique index, as before.
 * - Loaded on first use, no timer: a gateway that gets no coded submissions never reads it.
 */
import type { Db } from "../db/db.ts";
import { MAX_CACHED_ROWS } from "../mappings/cache.ts";
import { lookupTrackerMappings, type TrackerMappingKind } from "./mappings.ts";

export type TrackerMappingWanted = Array<{ kind: TrackerMappingKind; scope: string; code: string }>;

/** `kind|scope|code` → uid for the wanted keys of one source that have a mapping. */
export interface TrackerMappingLookup {
  lookup(sourceName: string, wanted: TrackerMappingWanted): Promise<Map<string, string>>;
}

export const trackerMappingKey = (m: { kind: string; scope: string; code: string }) =>
  `${m.kind}|${m.scope}|${m.code}`;

interface Snapshot {
  gen: number;
  loadedAt: number;
  /** By source, then key; undefined when over maxRows (look-ups read the database). */
  bySource?: Map<string, Map<string, string>>;
}

export interface TrackerMappingCacheOptions {
  refreshSeconds?: number;
  maxRows?: number;
  /** The clock, for tests. */
  now?: () => number;
}

export class TrackerMappingCache implements TrackerMappingLookup {
  readonly #sql: Db;
  readonly #opts: TrackerMappingCacheOptions;
  #snap: Snapshot | undefined;
  #gen = 0;
  #inflight: { gen: number; promise: Promise<Snapshot> } | undefined;

  constructor(sql: Db, opts: TrackerMappingCacheOptions = {}) {
    this.#sql = sql;
    this.#opts = opts;
  }

  async lookup(sourceName: string, wanted: TrackerMappingWanted): Promise<Map<string, string>> {
    if (!wanted.length) return new Map();
    const snap = await this.#current();
    if (!snap.bySource) return await lookupTrackerMappings(this.#sql, sourceName, wanted);
    const maps = snap.bySource.get(sourceName);
    const out = new Map<string, string>();
    for (const w of wanted) {
      const key = trackerMappingKey(w);
      const uid = maps?.get(key);
      if (uid !== undefined) out.set(key, uid);
    }
    return out;
  }

  /** This process changed tracker mappings: the next look-up waits for a reload. */
  invalidate(): void {
    this.#gen++;
  }

  #now(): number {
    return (this.#opts.now ?? Date.now)();
  }

  #current(): Snapshot | Promise<Snapshot> {
    const s = this.#snap;
    const ttl = (this.#opts.refreshSeconds ?? 5) * 1000;
    if (s && s.gen === this.#gen && this.#now() - s.loadedAt < ttl) return s;
    return this.#load(this.#gen);
  }

  /** One load per generation at a time: the look-ups that find the snapshot old share it. */
  #load(gen: number): Promise<Snapshot> {
    if (this.#inflight?.gen === gen) return this.#inflight.promise;
    const loadedAt = this.#now();
    const promise = (async () => {
      const max = this.#opts.maxRows ?? MAX_CACHED_ROWS;
      // One row past the cap tells it is over without reading (and holding) the rest.
      const rows = await this.#sql<
        { source_name: string; kind: string; scope: string; code: string; uid: string }[]
      >`select source_name, kind, scope, code, uid from tracker_mappings limit ${max + 1}`;
      let bySource: Snapshot["bySource"];
      if (rows.length <= max) {
        bySource = new Map();
        for (const r of rows) {
          let m = bySource.get(r.source_name);
          if (!m) bySource.set(r.source_name, m = new Map());
          m.set(trackerMappingKey(r), r.uid);
        }
      }
      const snap: Snapshot = { gen, loadedAt, bySource };
      // An older load finishing late never replaces a newer one.
      if (!this.#snap || gen >= this.#snap.gen) this.#snap = snap;
      return snap;
    })().finally(() => {
      if (this.#inflight?.promise === promise) this.#inflight = undefined;
    });
    this.#inflight = { gen, promise };
    return promise;
  }
}
