/**
 * The runtime flags of src/cli/runtime_flags.ts reach every launcher, and the allocator fix
 * they enable does what allocator.ts says (issue 18's footprint).
 */
import assert from "node:assert/strict";
import { FFI_FLAG, V8_FLAGS } from "../src/cli/runtime_flags.ts";
import { startFlags } from "../scripts/package_stage.ts";
import { RUN_FLAGS } from "./support/cli.ts";

const ROOT = new URL("../", import.meta.url).pathname;

Deno.test("runtime flags: deno task start/cli, the package, compile and the tests' serve agree", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;
  for (const name of ["start", "cli"]) {
    const words = (tasks[name] as string).split(/\s+/);
    assert.ok(words.includes(FFI_FLAG) && words.includes(V8_FLAGS), `task ${name}`);
  }
  // The packaged launcher and the Containerfile (package_test.ts) take the start task's.
  const pkg = await startFlags();
  assert.ok(pkg.includes(FFI_FLAG) && pkg.includes(V8_FLAGS), pkg.join(" "));
  assert.ok(RUN_FLAGS.includes(FFI_FLAG) && RUN_FLAGS.includes(V8_FLAGS));
  const compile = await Deno.readTextFile(`${ROOT}scripts/compile.ts`);
  assert.match(compile, /^\s+FFI_FLAG,\n\s+V8_FLAGS,$/m);
});

Deno.test({
  name: "runtime flags: with the launchers' flags, scrypt's buffers do not stay resident",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const child = async (flags: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", ...flags, `${ROOT}tests/support/scrypt_rss.ts`],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      assert.ok(out.success);
      return JSON.parse(new TextDecoder().decode(out.stdout)) as {
        allocator: string;
        grownMb: number;
      };
    };
    const tuned = await child(RUN_FLAGS.filter((f) => f === FFI_FLAG || f === V8_FLAGS));
    const untuned = await child([]);
    assert.equal(tuned.allocator, "mmap threshold fixed at 131072 bytes");
    assert.equal(untuned.allocator, "not changed: no --allow-ffi");
    // One 16 MiB buffer at most in flight at the end; untuned, glibc kept 50 MB or more.
    assert.ok(tuned.grownMb < 16, JSON.stringify({ tuned, untuned }));
    assert.ok(untuned.grownMb > 32, JSON.stringify({ tuned, untuned }));
  },
});
