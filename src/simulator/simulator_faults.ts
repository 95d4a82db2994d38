/**
 * Injectable replies for a DHIS2 whose own database fails during an aggregate import (a
 * deadlock, a statement timeout, a dropped connection): nothing in the payload is wrong, and
 * the same POST succeeds a moment later. Tests and the chaos suite inject them with
 * `sim.injectFaults([transientImportFailure("2.42", { times: 2 })])`.
 *
 * Each body is the one the dhis2-core code at that version produces (paths in dhis2/dhis2-core):
 *
 * - 2.38–2.42: `DefaultDataValueSetService.importDataValueSet` wraps the whole import (the batch
 *   handlers' `flush()` included) in `catch (Exception ex)` and returns
 *   `new ImportSummary(ERROR, "The import process failed: " + ex.getMessage())` — no conflicts,
 *   zero counts (@2.42.0 l.632-646, reference §12); `WebMessageUtils.importSummary` answers an
 *   ERROR summary with 409 (§3.4). `rejectedIndexes` is absent in 2.38.x (§12).
 * - 2.43 (`DataEntryPipeline` → `DefaultDataEntryService.upsertGroup`): the write runs in
 *   `progress.runStage(0, () -> store.upsertValues(…))`, and `JobProgress.runStage(errorValue, …)`
 *   catches any exception and returns `errorValue`; only `BadRequestException` and
 *   `ConflictException` are turned into an ImportSummary (`DataEntryPipeline.importData`). What
 *   the client sees then depends on where the exception surfaces (see `Dhis2_43Failure`).
 */
import type { Fault } from "./simulator.ts";
import { type Summary, summary } from "./simulator_import_summary.ts";
import type { Dhis2Version } from "./simulator_web.ts";

/** The simulator speaks 2.38–2.42; these replies also cover 2.43's new import pipeline. */
export type FailureVersion = Dhis2Version | "2.43";

/**
 * How 2.43 reports a failed write (read from the code, not observed on a server):
 * - `commit` (default): the transaction of `upsertGroup` cannot commit after the failed
 *   statement; Spring's exception reaches `CrudControllerAdvice.defaultExceptionHandler` →
 *   HTTP 500 WebMessage, `message` = the cause's message.
 * - `persistence`: in a payload spanning several data sets, the next group's `startingStage`
 *   re-throws the recorded cause (`RecordingJobProgress.cancellationException`, transitory
 *   progress); a Hibernate `JDBCException` is a `PersistenceException` →
 *   `CrudControllerAdvice.persistenceExceptionHandler` → HTTP 409 WebMessage without
 *   `errorCode` and without an import summary, `message` = the root cause's text.
 * - `swallowed`: the commit goes through: `DataEntrySummary.toImportSummary` reports SUCCESS
 *   with `updated: 0` and every value `ignored`, no conflicts, no description → HTTP 200.
 */
export type Dhis2_43Failure = "commit" | "persistence" | "swallowed";

export interface TransientImportFailureOptions {
  /** The exception text DHIS2 passes on. Default: a PostgreSQL deadlock. */
  message?: string;
  /** Only for 2.43: which of its replies (default `commit`). */
  shape?: Dhis2_43Failure;
  /** How many POSTs fail (default 1; `Infinity` until cleared). */
  times?: number;
}

/** PostgreSQL's text for SQLSTATE 40P01, as the JDBC driver passes it on (illustrative). */
export const DEADLOCK_MESSAGE = "ERROR: deadlock detected\n  Detail: Process 28127 waits for " +
  "ShareLock on transaction 9120553; blocked by process 28131.";

const NO_CACHE = { "Cache-Control": "no-cache, private" };

/** The reply DHIS2 `version` gives when its database fails during `POST /api/dataValueSets`. */
export function transientImportFailure(
  version: FailureVersion,
  opts: TransientImportFailureOptions = {},
): Fault {
  const message = opts.message ?? DEADLOCK_MESSAGE;
  const base = { path: "/api/dataValueSets", method: "POST", times: opts.times ?? 1 };
  if (version !== "2.43") {
    // The controller adds the effective import options to the failed summary
    // (`DataValueSetController.postJsonDataValueSet`); these are the defaults. No
    // `dataSetComplete`: the catch builds a fresh summary.
    const { dataSetComplete: _, ...response }: Partial<Summary> = summary(
      { strategy: "CREATE_AND_UPDATE", dryRun: false, schemes: {} },
      "ERROR",
      `The import process failed: ${message}`,
    );
    if (version === "2.38") delete response.rejectedIndexes;
    return {
      ...base,
      status: 409,
      headers: NO_CACHE,
      body: {
        httpStatus: "Conflict",
        httpStatusCode: 409,
        status: "ERROR",
        message: "An error occurred, please check import summary.",
        response,
      },
    };
  }
  switch (opts.shape ?? "commit") {
    case "commit":
      return {
        ...base,
        status: 500,
        headers: NO_CACHE,
        body: {
          httpStatus: "Internal Server Error",
          httpStatusCode: 500,
          status: "ERROR",
          message,
        },
      };
    case "persistence":
      return {
        ...base,
        status: 409,
        headers: NO_CACHE,
        body: { httpStatus: "Conflict", httpStatusCode: 409, status: "ERROR", message },
      };
    case "swallowed":
      return { ...base, status: 200, body: swallowedWrite };
  }
}

/** 2.43's SUCCESS for a write that failed: every value `ignored`, nothing says why. */
function swallowedWrite(request: unknown): unknown {
  const values = isRecord(request) && Array.isArray(request.dataValues)
    ? request.dataValues.length
    : 0;
  return {
    httpStatus: "OK",
    httpStatusCode: 200,
    status: "OK",
    message: "Import was successful.",
    response: {
      responseType: "ImportSummary",
      status: "SUCCESS",
      importOptions: {
        idSchemes: {},
        dryRun: false,
        async: false,
        importStrategy: "CREATE_AND_UPDATE",
      },
      importCount: { imported: 0, updated: 0, ignored: values, deleted: 0 },
      conflicts: [],
      rejectedIndexes: [],
    },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
