/**
 * Runs the CPU-heavy part of an import (reading and checking the file) or of an export in
 * a Web Worker, one per job, so the event loop stays free for submissions and probes: SheetJS
 * holds the thread for seconds on a large workbook (9 s to read 100,000 rows, 12 s to write
 * them). The worker is terminated afterwards, which also returns SheetJS's memory at once.
 * Where no worker can start (a binary built without offload_worker.ts), the work runs here.
 */
import { AppError, type ErrorCode } from "../http/errors.ts";
import type { Logger } from "../logs/logger.ts";
import { mappingsToCsv } from "./csv.ts";
import { mappingsToXlsx } from "./excel.ts";
import type { ImportLimits, ParseResult } from "./formats.ts";
import type { MappingInput } from "./model.ts";
import { type CheckedFile, type ImportFormat, parseFile, readAndCheck } from "./read_file.ts";

export type OffloadRequest =
  | { kind: "read"; format: ImportFormat; bytes: Uint8Array; limits: Partial<ImportLimits> }
  // The raw cells only, unchecked: the old API's import (src/compat/) cleans them first.
  | { kind: "parse"; format: ImportFormat; bytes: Uint8Array; limits: Partial<ImportLimits> }
  | { kind: "xlsx" | "csv"; mappings: MappingInput[] };

export type OffloadResult = CheckedFile | ParseResult | { bytes: Uint8Array };

export type OffloadResponse =
  | { ok: true; result: OffloadResult }
  | {
    ok: false;
    error: {
      code?: ErrorCode;
      message: string;
      details?: unknown;
      headers?: Record<string, string>;
    };
  };

export function runLocally(req: OffloadRequest): OffloadResult {
  if (req.kind === "read") return readAndCheck(req.format, req.bytes, req.limits);
  if (req.kind === "parse") return parseFile(req.format, req.bytes, req.limits);
  if (req.kind === "csv") return { bytes: new TextEncoder().encode(mappingsToCsv(req.mappings)) };
  return { bytes: mappingsToXlsx(req.mappings) };
}

const WORKER = new URL("./offload_worker.ts", import.meta.url).href;

/**
 * Jobs this small run here: a 4 KB CSV (about 70 rows) is read in 2 to 8 ms once warm, less
 * than a worker takes to start, and the first worker leaves about 20 MB of RSS in the process
 * for good (measured: 69 to 93 MB, flat after more workers; issue 18's footprint).
 */
const SMALL_FILE_BYTES = 4 * 1024;
const SMALL_EXPORT_ROWS = 100;

function small(req: OffloadRequest): boolean {
  return "bytes" in req
    ? req.bytes.length <= SMALL_FILE_BYTES
    : req.mappings.length <= SMALL_EXPORT_ROWS;
}
/** Worker scripts that failed to start: not tried again in this process. */
const unavailable = new Set<string>();

function inWorker(req: OffloadRequest, script: string): Promise<OffloadResponse> {
  const worker = new Worker(script, { type: "module" });
  return new Promise<OffloadResponse>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<OffloadResponse>) => resolve(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
    worker.onmessageerror = () => reject(new Error("the worker's reply could not be read"));
    // Copied, not transferred: the bytes must survive for the fallback below.
    worker.postMessage(req);
  }).finally(() => worker.terminate());
}

export async function offload(
  req: OffloadRequest,
  log?: Logger,
  script = WORKER,
): Promise<OffloadResult> {
  let reply: OffloadResponse;
  if (unavailable.has(script) || small(req)) reply = { ok: true, result: runLocally(req) };
  else {
    try {
      reply = await inWorker(req, script);
    } catch (err) {
      // The worker itself failed (it reports the job's own errors as replies): run here.
      unavailable.add(script);
      log?.warn("mapping imports and exports run on the main thread: no worker", {
        error: err as Error,
      });
      reply = { ok: true, result: runLocally(req) };
    }
  }
  if (reply.ok) return reply.result;
  const e = reply.error;
  if (e.code) {
    throw new AppError(e.code, e.message, { details: e.details, headers: e.headers });
  }
  throw new Error(e.message);
}

export async function readInWorker(
  format: ImportFormat,
  bytes: Uint8Array,
  limits: Partial<ImportLimits>,
  log?: Logger,
): Promise<CheckedFile> {
  return await offload({ kind: "read", format, bytes, limits }, log) as CheckedFile;
}

/** The file's rows as their raw cell texts (unreadable files throw as readInWorker's do). */
export async function parseInWorker(
  format: ImportFormat,
  bytes: Uint8Array,
  limits: Partial<ImportLimits>,
  log?: Logger,
): Promise<ParseResult> {
  return await offload({ kind: "parse", format, bytes, limits }, log) as ParseResult;
}

/** An export file: .xlsx, or CSV (1 s for 100,000 rows, also worth keeping off the loop). */
export async function exportInWorker(
  format: "xlsx" | "csv",
  mappings: MappingInput[],
  log?: Logger,
): Promise<Uint8Array> {
  return (await offload({ kind: format, mappings }, log) as { bytes: Uint8Array }).bytes;
}
