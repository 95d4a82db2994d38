import { getHeapSpaceStatistics } from "node:v8";

const MB = 1024 * 1024;
const mb = (n: number) => Math.round((n / MB) * 10) / 10;

/**
 * One JSON line of where the process's memory is: Deno.memoryUsage() (rss, V8 heap, external
 * array buffers) and the used/committed size of each V8 heap space, in MB. RSS minus the
 * committed heap is what lives outside V8 (code of the runtime, Rust-side buffers, malloc).
 */
export function memoryLine(): string {
  const m = Deno.memoryUsage();
  const spaces: Record<string, [number, number]> = {};
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_size === 0) continue;
    spaces[s.space_name.replace(/_space$/, "")] = [mb(s.space_used_size), mb(s.space_size)];
  }
  return JSON.stringify({
    memory: {
      t: Math.round(performance.now()),
      rss: mb(m.rss),
      heapTotal: mb(m.heapTotal),
      heapUsed: mb(m.heapUsed),
      external: mb(m.external),
      spaces,
    },
  }) + "\n";
}

/**
 * Writes memoryLine() every `everyMs` (0: never) without keeping the process alive. With
 * `--v8-flags=--expose-gc`, `onGcRequest`'s signal runs a full collection first and writes
 * a line marked `afterFullGc`: the live size, as opposed to what V8 has not collected yet.
 */
export function startMemoryTrace(
  everyMs: number,
  write: (line: string) => void,
  onGcRequest?: (run: () => void) => void,
  allocator?: string,
): void {
  if (!(everyMs > 0)) return;
  write(JSON.stringify({ memory: { allocator } }) + "\n");
  Deno.unrefTimer(setInterval(() => write(memoryLine()), everyMs));
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc && onGcRequest) {
    onGcRequest(() => {
      gc();
      write(memoryLine().replace('{"memory":{', '{"memory":{"afterFullGc":true,'));
    });
  }
}
