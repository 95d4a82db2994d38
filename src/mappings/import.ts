/**
 * The import service behind POST /mappings/import/{csv,excel} and `dhis2gw mappings import`:
 * parse and check rows (in a worker: offload.ts) → (validate=dhis2) check against one metadata snapshot → compare with the
 * stored rows → write, all or nothing. A file with any problem changes nothing and is answered
 * with 422 and the problems; a dry run stops before writing.
 */
import { type Db, PG, pgCode, type Sql } from "../db/db.ts";
import { AppError, MAX_DETAILS } from "../http/errors.ts";
import type { Logger } from "../logs/logger.ts";
import { type ImportMode, planImport, scopesOf, type StoredRow } from "./diff.ts";
import type { ImportLimits, Problem } from "./formats.ts";
import { readInWorker } from "./offload.ts";
import type { ImportFormat } from "./read_file.ts";
import {
  type ComparedRow,
  deleteByUids,
  lockForWrite,
  rowsInScopes,
  rowsMatching,
  toInput,
  toWriteRow,
  upsertBatch,
} from "./queries.ts";
import { type MetadataSnapshot, validateAgainstMetadata, type ValidRow } from "./validate.ts";

export type { ImportFormat };

export interface ImportProgress {
  /** read: parse and check the file (in a worker); dhis2: validate=dhis2. */
  phase: "read" | "dhis2" | "compare" | "write" | "done";
  /** Rows handled so far in this phase, and of how many (0 when not known yet). */
  done: number;
  total: number;
}

export interface ImportOptions {
  format: ImportFormat;
  mode: ImportMode;
  dryRun: boolean;
  limits?: Partial<ImportLimits>;
  /** validate=dhis2: the snapshot for the file's valid rows (throws 502 when DHIS2 is away). */
  metadata?: (rows: readonly ValidRow[]) => Promise<MetadataSnapshot>;
  /**
   * validate=dhis2 with several destinations: the problems of the file's valid rows against
   * each destination that uses their instance (dhis2_destinations.ts). Wins over `metadata`.
   */
  checkAgainstDhis2?: (rows: readonly ValidRow[]) => Promise<Problem[]>;
  onProgress?: (p: ImportProgress) => void;
  /** Called once a change is committed (the writing process's cache is invalidated here). */
  onChange?: () => void;
  log?: Logger;
  /** Configured destinations' names: a row for another instance is never used (a warning). */
  destinations?: readonly string[];
}

export interface ImportReport {
  format: ImportFormat;
  mode: ImportMode;
  dryRun: boolean;
  /** Data rows in the file. */
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
  validatedAgainstDhis2: boolean;
  /** Always empty here: a file with problems is answered with 422 instead. */
  problems: Problem[];
  /** Imported, but worth a look: mappings for an instance no destination is configured for. */
  warnings: string[];
}

/** One warning per instance name that no configured destination has. */
export function destinationWarnings(
  rows: readonly { instanceName: string }[],
  destinations: readonly string[],
): string[] {
  const counts = new Map<string, number>();
  for (const r of rows) {
    if (!destinations.includes(r.instanceName)) {
      counts.set(r.instanceName, (counts.get(r.instanceName) ?? 0) + 1);
    }
  }
  return [...counts].map(([name, n]) =>
    `${n} mapping${n === 1 ? " is" : "s are"} for instance "${name}", which has no configured ` +
    `destination (configured: ${destinations.length ? destinations.join(", ") : "none"}); ` +
    "submissions will not use them"
  );
}

/**
 * A reply listing 100,000 problems helps nobody; the count of the rest is in the message and
 * in error.omitted. The same cap as every other list of problems (http/errors.ts).
 */
export const MAX_PROBLEMS_SHOWN = MAX_DETAILS;

/**
 * Rows per INSERT … ON CONFLICT statement (15 parameters a row; PostgreSQL allows 65,535). On
 * a loaded 2-CPU machine 100,000 new rows took 8.4 s in batches of 500, 8.9 s of 2,000, 9.8 s
 * of 4,000, and 6.9 s as one unnest() statement; without the six secondary indexes 8.8 s. So
 * the time is per-row work, not statements, and batches keep each statement short.
 */
export const WRITE_BATCH = 2000;
const DELETE_BATCH = 10_000;

/** Parsing a 100,000-row workbook takes seconds of CPU: imports and exports run one at a time. */
class Gate {
  #busy = false;
  #waiting: (() => void)[] = [];
  constructor(readonly maxWaiting: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#busy) {
      if (this.#waiting.length >= this.maxWaiting) {
        throw new AppError(
          "too_many_requests",
          "other mapping imports or exports are running; try again in a moment",
          { headers: { "Retry-After": "10" } },
        );
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#busy = true;
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#busy = false;
    }
  }
}

/** Each waiting request holds its file in memory, so only a few may wait. */
export const heavyWork = new Gate(4);

export function problemsError(problems: readonly Problem[], what = "the file"): AppError {
  const shown = problems.slice(0, MAX_PROBLEMS_SHOWN);
  const more = problems.length - shown.length;
  const count = `${problems.length} problem${problems.length === 1 ? "" : "s"}`;
  // The first problem in the message too: a header problem is often the only one, and a CLI
  // user or a log reader sees the message first.
  const first = problems[0];
  const where = `row ${first.row}${first.column ? `, ${first.column}` : ""}`;
  return new AppError(
    "validation_failed",
    `${count} in ${what}; nothing was changed` +
      (more > 0 ? ` (the first ${shown.length} are listed, ${more} more are not)` : "") +
      `. ${problems.length > 1 ? "First: " : ""}${where}: ${first.message}`,
    { details: shown, omitted: more },
  );
}

function storedOf(rows: readonly ComparedRow[]): StoredRow[] {
  return rows.map((r) => ({ uid: r.uid, mapping: toInput(r) }));
}

export async function importMappings(
  sql: Sql,
  bytes: Uint8Array,
  opts: ImportOptions,
): Promise<ImportReport> {
  const progress = opts.onProgress ?? (() => {});
  progress({ phase: "read", done: 0, total: 0 });
  const checked = await readInWorker(opts.format, bytes, opts.limits ?? {}, opts.log);
  const problems = [...checked.problems];

  let validated = false;
  if ((opts.checkAgainstDhis2 || opts.metadata) && checked.mappings.length > 0) {
    progress({ phase: "dhis2", done: 0, total: checked.mappings.length });
    try {
      if (opts.checkAgainstDhis2) problems.push(...await opts.checkAgainstDhis2(checked.mappings));
      else {
        const snapshot = await opts.metadata!(checked.mappings);
        problems.push(...validateAgainstMetadata(checked.mappings, snapshot));
      }
      validated = true;
    } catch (err) {
      // With problems already found, report them rather than hide them behind DHIS2's outage.
      if (problems.length === 0 || !(err instanceof AppError)) throw err;
      problems.push({
        row: 1,
        column: "",
        value: "",
        message: `not checked against DHIS2: ${err.message}`,
      });
    }
  }
  if (problems.length > 0) throw problemsError(sortByRow(problems));

  const present = new Set(checked.present);
  const fileRows = checked.mappings.map((v) => ({ ...v, present }));

  const report: ImportReport = {
    format: opts.format,
    mode: opts.mode,
    dryRun: opts.dryRun,
    rows: checked.rows,
    created: 0,
    updated: 0,
    unchanged: 0,
    deleted: 0,
    validatedAgainstDhis2: validated,
    problems: [],
    warnings: opts.destinations
      ? destinationWarnings(checked.mappings.map((r) => r.mapping), opts.destinations)
      : [],
  };
  for (const warning of report.warnings) opts.log?.warn("mapping import", { warning });
  const mappings = fileRows.map((r) => r.mapping);

  const run = async (db: Db) => {
    progress({ phase: "compare", done: 0, total: fileRows.length });
    const stored = opts.mode === "replace"
      ? await rowsInScopes(db, scopesOf(fileRows))
      : await rowsMatching(db, mappings);
    const plan = planImport(fileRows, storedOf(stored), opts.mode);
    if (plan.problems.length > 0) throw problemsError(plan.problems);
    report.created = plan.created;
    report.updated = plan.updated;
    report.unchanged = plan.unchanged;
    report.deleted = plan.deletes.length;
    if (opts.dryRun) return;

    for (let i = 0; i < plan.deletes.length; i += DELETE_BATCH) {
      await deleteByUids(db, plan.deletes.slice(i, i + DELETE_BATCH));
    }
    const total = plan.writes.length;
    for (let i = 0; i < total; i += WRITE_BATCH) {
      const batch = plan.writes.slice(i, i + WRITE_BATCH).map((w) => toWriteRow(w.uid, w.mapping));
      await upsertBatch(db, batch);
      progress({ phase: "write", done: Math.min(i + WRITE_BATCH, total), total });
    }
  };

  try {
    if (opts.dryRun) await run(sql);
    else {
      await sql.begin(async (tx) => {
        await lockForWrite(tx);
        await run(tx);
      });
      if (report.created + report.updated + report.deleted > 0) opts.onChange?.();
    }
  } catch (err) {
    if (pgCode(err) === PG.uniqueViolation) {
      // planImport rules these out against what it read under the lock; left is a file that
      // swaps source org units between two of its rows, which PostgreSQL checks row by row.
      throw new AppError(
        "conflict",
        "the import would give one source org unit two org unit mappings for a moment " +
          "(two rows swap their source_orgunit?); nothing was changed: import the swap in two steps" +
          ` (${(err as Error).message})`,
      );
    }
    throw err;
  }
  progress({ phase: "done", done: fileRows.length, total: fileRows.length });
  return report;
}

function sortByRow(problems: Problem[]): Problem[] {
  return problems.sort((a, b) => a.row - b.row);
}
