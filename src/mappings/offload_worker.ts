/**
 * The CPU-heavy half of imports and exports, run in a Web Worker (offload.ts) so the server's
 * event loop keeps answering submissions and probes meanwhile: reading a 100,000-row workbook
 * takes SheetJS 9 s, writing one 12 s.
 */
/// <reference lib="deno.worker" />
import { AppError } from "../http/errors.ts";
import { type OffloadRequest, type OffloadResponse, runLocally } from "./offload.ts";

self.onmessage = (e: MessageEvent<OffloadRequest>) => {
  let reply: OffloadResponse;
  const transfer: Transferable[] = [];
  try {
    reply = { ok: true, result: runLocally(e.data) };
    if ("bytes" in reply.result) transfer.push(reply.result.bytes.buffer as ArrayBuffer);
  } catch (err) {
    // AppErrors (413, 415, 400 from the parsers) cross as data and are rebuilt on the other side.
    reply = err instanceof AppError
      ? {
        ok: false,
        error: {
          code: err.code,
          message: err.message,
          details: err.details,
          headers: err.headers,
        },
      }
      : { ok: false, error: { message: (err as Error).message ?? String(err) } };
  }
  self.postMessage(reply, transfer);
};
