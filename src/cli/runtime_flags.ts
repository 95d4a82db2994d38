/**
 * What every launcher of the gateway passes to Deno besides the `--allow-*` permissions
 * (`deno task start`/`cli` in deno.json, the packaged `launch` script and the Containerfile,
 * which copy the start task's flags, `deno task compile`, and the tests' and benches' own
 * `serve` processes): tests/runtime_flags_test.ts checks they all agree.
 *
 * Measured with scripts/bench_memory.ts (`deno task bench --memory`: 32 connections posting
 * for 20 s, external PostgreSQL, allocator.ts's fix in every run; issue 18), on a loaded
 * 2-core machine, so CPU per accepted request is the throughput figure that holds still:
 *   - V8's defaults: a 16 MB semi-space (48 to 56 MB of young generation once grown) and an
 *     old generation left to grow to 55-62 MB of mostly garbage (20-25 MB live): peak RSS
 *     153-177 MB.
 *   - `--max-semi-space-size=4`: young generation 8 MB, old generation still lazy: 153-175 MB.
 *   - plus `--heap-growing-percent=50` (the old generation may grow to 1.5 times what
 *     survived the last full GC, instead of up to 4 times): heap 49-50 MB, peak 125-130 MB,
 *     0.87-1.0 ms CPU per request against 0.84-1.11 without it. Taken.
 *   - `--optimize-for-size`: 107-117 MB but 2.05 against 1.48 ms CPU per request (medians of
 *     4 runs): 40% more, not taken. `--initial-old-space-size=32`: 181-190 MB, worse.
 */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=4,--heap-growing-percent=50";

/** allocator.ts calls glibc's mallopt through FFI; without it that fix is skipped. */
export const FFI_FLAG = "--allow-ffi";
