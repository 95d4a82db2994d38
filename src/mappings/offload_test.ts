import assert from "node:assert/strict";
import { generateMappings } from "../../scripts/gen_mappings_xlsx.ts";
import { AppError } from "../http/errors.ts";
import { captureLogger } from "../logs/logger.ts";
import { mappingsToCsv } from "./csv.ts";
import { mappingsToXlsx } from "./excel.ts";
import { exportInWorker, offload, readInWorker, runLocally } from "./offload.ts";
import { readAndCheck } from "./read_file.ts";

const mappings = generateMappings(20_000);
const workbook = mappingsToXlsx(mappings);

/** The longest stretch (ms) the event loop went without running a 5 ms timer during `work`. */
async function longestStall<T>(work: () => Promise<T>): Promise<{ stall: number; ms: number }> {
  let last = performance.now();
  let stall = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 5);
  const started = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
    stall = Math.max(stall, performance.now() - last); // a loop blocked to the end
  }
  return { stall, ms: performance.now() - started };
}

Deno.test("offload: reading a workbook in the worker gives what reading it here gives", async () => {
  const csv = await exportInWorker("csv", mappings.slice(0, 10));
  assert.deepEqual(csv, new TextEncoder().encode(mappingsToCsv(mappings.slice(0, 10))));
  const here = readAndCheck("xlsx", workbook);
  const there = await readInWorker("xlsx", workbook, {});
  assert.equal(there.rows, 20_000);
  assert.deepEqual(there, here);
});

Deno.test("offload: the event loop keeps running while a large workbook is read and written", async () => {
  const local = await longestStall(() =>
    Promise.resolve(runLocally({ kind: "read", format: "xlsx", bytes: workbook, limits: {} }))
  );
  const read = await longestStall(() => readInWorker("xlsx", workbook, {}));
  const write = await longestStall(() => exportInWorker("xlsx", mappings));
  // On the main thread the loop stalls for the whole read; through the worker only for the
  // copy of the result back, a fraction of it.
  assert.ok(local.stall > local.ms * 0.9, `local: ${JSON.stringify(local)}`);
  assert.ok(read.stall < read.ms / 3, `worker read: ${JSON.stringify(read)}`);
  assert.ok(write.stall < write.ms / 3, `worker write: ${JSON.stringify(write)}`);
});

Deno.test("offload: a refused file comes back as the same AppError (status, message, details)", async () => {
  const text = new TextEncoder().encode("code,dataelement\nA,\xff");
  for (
    const req of [
      { kind: "read", format: "xlsx", bytes: text, limits: {} },
      { kind: "read", format: "csv", bytes: workbook, limits: { maxBytes: 100 } },
    ] as const
  ) {
    let local: AppError | undefined;
    try {
      runLocally(req);
    } catch (err) {
      local = err as AppError;
    }
    await assert.rejects(() => offload(req), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.status, local!.status);
      assert.equal(err.message, local!.message);
      assert.deepEqual(err.details, local!.details);
      return true;
    });
  }
});

Deno.test("offload: without a worker (a binary built without it) the work runs here, once noted", async () => {
  const { log, lines } = captureLogger();
  const missing = new URL("./no_such_worker.ts", import.meta.url).href;
  const req = { kind: "read", format: "xlsx", bytes: workbook, limits: {} } as const;
  assert.deepEqual(await offload(req, log, missing), runLocally(req));
  assert.deepEqual(await offload(req, log, missing), runLocally(req));
  assert.equal(lines.filter((l) => /run on the main thread: no worker/.test(l)).length, 1);
});

Deno.test("offload: a small file or export is done here, without starting a worker", async () => {
  const { log, lines } = captureLogger();
  // A worker that cannot start: any attempt to use it would be logged.
  const missing = new URL("./no_worker_for_small_jobs.ts", import.meta.url).href;
  const csv = new TextEncoder().encode(mappingsToCsv(mappings.slice(0, 20)));
  assert.ok(csv.length <= 4096);
  const read = { kind: "read", format: "csv", bytes: csv, limits: {} } as const;
  assert.deepEqual(await offload(read, log, missing), runLocally(read));
  const exp = { kind: "csv", mappings: mappings.slice(0, 20) } as const;
  assert.deepEqual(await offload(exp, log, missing), runLocally(exp));
  assert.deepEqual(lines, []);
});
