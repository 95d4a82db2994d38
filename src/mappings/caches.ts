/**
 * One MappingCache per mappings instance (`dhis2_mappings.instance_name`): each destination's
 * submissions are mapped with its instance's rows. Caches of the configured instances are made
 * and started up front; an instance asked for later (a test, a hand-built config) gets one on
 * first use that loads then and sees this process's own changes.
 */
import type { Db } from "../db/db.ts";
import { MappingCache, type MappingCacheOptions } from "./cache.ts";
import { INSTANCE_NAME } from "./lookup.ts";

export class MappingCaches {
  readonly #sql: Db;
  readonly #opts: MappingCacheOptions;
  readonly #byInstance = new Map<string, MappingCache>();

  /** `first`: an existing cache of the `default` instance to reuse. */
  constructor(sql: Db, opts: MappingCacheOptions = {}, first?: MappingCache) {
    this.#sql = sql;
    this.#opts = opts;
    if (first) this.#byInstance.set(INSTANCE_NAME, first);
  }

  get(instance: string): MappingCache {
    let cache = this.#byInstance.get(instance);
    if (!cache) {
      cache = new MappingCache(this.#sql, { ...this.#opts, instance });
      this.#byInstance.set(instance, cache);
    }
    return cache;
  }

  /** A mapping changed in this process: every instance's next look-up reloads. */
  invalidate(): void {
    for (const c of this.#byInstance.values()) c.invalidate();
  }

  /** Loads and starts watching each instance's cache. */
  async start(instances: readonly string[]): Promise<void> {
    for (const i of new Set(instances)) await this.get(i).start();
  }

  async stop(): Promise<void> {
    for (const c of this.#byInstance.values()) await c.stop();
  }
}
