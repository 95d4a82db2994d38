/**
 * Child of tests/runtime_flags_test.ts: RSS growth (MB) over 4 password hashes and 8 checks
 * (scrypt's 16 MiB buffers, in Deno's thread pool), after main.ts's allocator tuning.
 */
import { hashPassword, verifyPassword } from "../../src/auth/password.ts";
import { tuneAllocator } from "../../src/cli/allocator.ts";

const allocator = tuneAllocator();
const before = Deno.memoryUsage().rss;
for (let i = 0; i < 4; i++) {
  const hash = await hashPassword("Demo-Gateway-2026");
  await Promise.all([verifyPassword("Demo-Gateway-2026", hash), verifyPassword("wrong", hash)]);
}
const grownMb = Math.round((Deno.memoryUsage().rss - before) / 2 ** 20);
console.log(JSON.stringify({ allocator, grownMb }));
