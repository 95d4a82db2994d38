/**
 * The target DHIS2's version, for the version-dependent checks at intake (periods: reference
 * §12). Read from `/api/system/info` at start and whenever the status check reads it; the
 * configured `api.dhis2_version` stands in while DHIS2 has not answered. Unknown is safe:
 * intake then accepts what any supported version accepts and the import outcome decides.
 */

import { parseDhis2Version } from "./periods.ts";
import type { Dhis2Client } from "./client.ts";

export class TargetVersion {
  #read: string | null = null;
  readonly #configured: string | null;

  constructor(configured: string) {
    this.#configured = parseDhis2Version(configured) ? configured : null;
  }

  /** The version read from DHIS2, else the configured one, else null. */
  get(): string | null {
    return this.#read ?? this.#configured;
  }

  /** Records a `system/info` version; anything that is not a 2.x version is ignored. */
  note(version: unknown): void {
    if (typeof version !== "string") return;
    const release = parseDhis2Version(version);
    if (release) {
      this.#read = `2.${release.minor}${release.patch === null ? "" : `.${release.patch}`}`;
    }
  }

  /** One read of `system/info`; a failure keeps what was known (never throws). */
  async refresh(client: Pick<Dhis2Client, "getSystemInfo">): Promise<string | null> {
    try {
      const r = await client.getSystemInfo();
      if (r.ok) this.note(r.value.version);
    } catch {
      // Unreachable or misconfigured DHIS2: the configured version (or none) stays in force.
    }
    return this.get();
  }
}
