/**
 * The stdout logger writes the lines of one event-loop turn in one write, yet loses none when
 * the process ends right after logging (Deno.exit, an uncaught error) and writes errors at once.
 */
import assert from "node:assert/strict";

const LOGGER = new URL("./logger.ts", import.meta.url).href;

/** Runs `body` in a child process with a logger `log` and stdout writes counted on stderr. */
async function child(body: string): Promise<{ lines: string[]; writes: number[]; code: number }> {
  const dir = await Deno.makeTempDir({ prefix: "dhis2gw-logger-" });
  const file = `${dir}/main.ts`;
  await Deno.writeTextFile(
    file,
    `import { createLogger } from ${JSON.stringify(LOGGER)};
const original = Deno.stdout.writeSync.bind(Deno.stdout);
let writes = 0;
Deno.stdout.writeSync = (b: Uint8Array) => {
  writes++;
  return original(b);
};
const note = (what: string) =>
  Deno.stderr.writeSync(new TextEncoder().encode(\`writes \${what} \${writes}\\n\`));
const log = createLogger();
${body}
`,
  );
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-lock", "--allow-read", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    return {
      lines: new TextDecoder().decode(out.stdout).trim().split("\n").filter(Boolean).map((l) =>
        JSON.parse(l).msg
      ),
      writes: [...err.matchAll(/^writes \S+ (\d+)$/gm)].map((m) => Number(m[1])),
      code: out.code,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("lines logged in one turn go out in one write, before the next turn", async () => {
  const r = await child(`
for (let i = 0; i < 50; i++) log.info("line " + i);
note("sync");
await new Promise((r) => setTimeout(r, 0));
note("next-turn");
log.warn("a warning");
log.error("an error");
note("after-error");
`);
  assert.equal(r.code, 0);
  assert.deepEqual(r.lines, [
    ...Array.from({ length: 50 }, (_, i) => `line ${i}`),
    "a warning",
    "an error",
  ]);
  // None written during the turn, all 50 in one write at its end; an error at once, with what
  // was pending before it (in order) in the write before its own.
  assert.deepEqual(r.writes, [0, 1, 3]);
});

Deno.test("lines logged just before Deno.exit or an uncaught error are not lost", async () => {
  const exit = await child(`log.info("before exit");\nDeno.exit(3);`);
  assert.deepEqual([exit.code, exit.lines], [3, ["before exit"]]);
  const thrown = await child(
    `setTimeout(() => {\n  log.info("before throw");\n  throw new Error("boom");\n}, 1);`,
  );
  assert.deepEqual([thrown.code, thrown.lines], [1, ["before throw"]]);
  const rejected = await child(`log.info("before reject");\nawait Promise.reject(new Error("x"));`);
  assert.deepEqual([rejected.code, rejected.lines], [1, ["before reject"]]);
});
