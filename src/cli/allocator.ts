/**
 * glibc's malloc raises its mmap threshold to the largest block freed so far (up to 32 MiB):
 * from then on blocks of that size come from its arenas and stay resident after free. scrypt's
 * 16 MiB buffer (auth/password.ts, one per login and password change, in Deno's thread pool)
 * does exactly that: measured, 4 hashes and 8 verifies took a process from 45 to 99 MB RSS for
 * good, and `serve` sat 40 MB higher after the bench's two logins. Setting M_MMAP_THRESHOLD
 * explicitly turns the moving threshold off (mallopt(3)): the buffer is mmapped and unmapped
 * each time, and the same 12 calls end at 49 MB.
 *
 * Needs `--allow-ffi` (runtime_flags.ts); elsewhere (macOS, musl, no permission) nothing is
 * done and the reason returned.
 */
const M_MMAP_THRESHOLD = -3;
/** glibc's own starting value: only its growth is turned off. */
export const MMAP_THRESHOLD_BYTES = 128 * 1024;

export function tuneAllocator(): string {
  if (Deno.build.os !== "linux") return `not changed on ${Deno.build.os}`;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return "not changed: no --allow-ffi";
  }
  try {
    const libc = Deno.dlopen("libc.so.6", {
      mallopt: { parameters: ["i32", "i32"], result: "i32" },
    });
    try {
      return libc.symbols.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) === 1
        ? `mmap threshold fixed at ${MMAP_THRESHOLD_BYTES} bytes`
        : "not changed: mallopt refused";
    } finally {
      libc.close();
    }
  } catch (err) {
    return `not changed: no glibc (${(err as Error).message})`;
  }
}
