/** How an import summary leaves the simulator, by version (reference §12). */
import { reply, type Summary } from "./simulator_import_summary.ts";
import { type Dhis2Version, FULL_VERSION, minor, webMessage } from "./simulator_web.ts";

/** `rejectedIndexes` arrived in 2.39.2, 2.40.1 and 2.41.0 (reference §12). */
export function hasRejectedIndexes(fullVersion: string): boolean {
  const [, minor, patch] = fullVersion.split(".").map(Number);
  if (minor === 39) return patch >= 2;
  if (minor === 40) return patch >= 1;
  return minor > 40;
}

/** What `send` needs of the import (simulator_import.ts's ImportContext has it). */
interface SendContext {
  version: Dhis2Version;
  /** The full release (`2.40.0`); default: the version's late patch. */
  release?: string;
  plainResponse: boolean;
}

export function send(s: Summary, ctx: SendContext): Response {
  if (!hasRejectedIndexes(ctx.release ?? FULL_VERSION[ctx.version])) {
    delete (s as Partial<Summary>).rejectedIndexes;
  }
  if (minor(ctx.version) >= 43 && !s.description.startsWith(FAILED)) {
    return pipelineReply(s);
  }
  return reply(s, ctx.plainResponse);
}

// 2.43 decodes before importing; its own failure shapes are not modelled: the legacy one stays.
const FAILED = "The import process failed";

/**
 * 2.43's `DataEntryPipeline` summary (`DataEntrySummary.toImportSummary`, `WebMessageUtils`
 * @2.43.0, reference §12): no description; every write counted `updated` (unchanged re-sent
 * values too); conflicts with `object: null` and their identifiers joined in `objects.args`;
 * ERROR when no value was written; WARNING answered with 200. Conflict codes stay the
 * legacy E76xx ones here (2.43 uses E8xxx; the gateway keys on structure, not on the code).
 */
function pipelineReply(s: Summary): Response {
  const count = s.importCount;
  const refused = s.rejectedIndexes?.length ?? 0;
  const written = count.imported + count.updated + count.deleted + (count.ignored - refused);
  const body: Record<string, unknown> = {
    responseType: "ImportSummary",
    status: s.status,
    importOptions: s.importOptions,
    importCount: {
      imported: 0,
      updated: written - count.deleted,
      ignored: refused,
      deleted: count.deleted,
    },
    conflicts: s.conflicts.map((c) => ({
      object: null,
      objects: { args: Object.values(c.objects ?? {}).join(", ") },
      value: c.value,
      errorCode: c.errorCode,
      property: c.property,
      indexes: c.indexes,
    })),
    rejectedIndexes: s.rejectedIndexes,
  };
  if (s.status === "WARNING" && written === 0) body.status = "ERROR";
  if (body.status === "SUCCESS") {
    return webMessage(200, "OK", "Import was successful.", { response: body });
  }
  if (body.status === "WARNING") {
    const message = "Import completed with warnings, please check import summary.";
    return webMessage(200, "WARNING", message, { response: body });
  }
  return webMessage(409, "ERROR", "An error occurred, please check import summary.", {
    response: body,
  });
}
