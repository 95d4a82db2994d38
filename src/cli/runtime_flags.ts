/**
 * What every launcher of the gateway passes to Deno besides the `--allow-*` permissions
 * (`deno task start`/`cli` in deno.json, the packaged `launch` script and the Containerfile,
 * which copy the start task's flags, `deno task compile`, and the tests' and benches' own
 * `serve` processes): tests/runtime_flags_test.ts checks they all agree.
 *
 * A 4 MB semi-space instead of V8's default (16 MB, so 48 to 56 MB of young generation once
 * grown): under the intake bench (32 connections, external PostgreSQL, issue 18) the young
 * generation stayed at 8 MB and `serve`'s peak RSS fell from a median of 153 to 129 MB (with
 * allocator.ts's fix in both; 4 and 3 runs), CPU per accepted request unchanged within the
 * noise of a loaded machine. `--optimize-for-size` gave 111 MB but cost about 40% more CPU
 * per request (2.05 against 1.48 ms, medians of 4 runs): not taken.
 */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=4";

/** allocator.ts calls glibc's mallopt through FFI; without it that fix is skipped. */
export const FFI_FLAG = "--allow-ffi";
