import assert from "node:assert/strict";
import type { Dhis2Read, SystemInfo } from "./client.ts";
import { TargetVersion } from "./target_version.ts";

const info = (version: string | undefined, ok = true) => ({
  getSystemInfo: (): Promise<Dhis2Read<SystemInfo>> =>
    Promise.resolve(
      ok
        ? { ok: true as const, value: { version }, httpStatus: 200, durationMs: 1 }
        : { ok: false as const, error: "refused", timedOut: false, durationMs: 1 },
    ),
});

Deno.test("the version read from system/info wins over the configured one", async () => {
  const t = new TargetVersion("2.40");
  assert.equal(t.get(), "2.40");
  assert.equal(await t.refresh(info("2.43.1")), "2.43.1");
  assert.equal(t.get(), "2.43.1");
  // A later failure or a nonsense answer keeps what was read.
  assert.equal(await t.refresh(info(undefined, false)), "2.43.1");
  assert.equal(await t.refresh(info("banana")), "2.43.1");
  assert.equal(await t.refresh({ getSystemInfo: () => Promise.reject(new Error("x")) }), "2.43.1");
  t.note("2.39.2-SNAPSHOT");
  assert.equal(t.get(), "2.39.2");
});

Deno.test("unknown until DHIS2 answers when nothing (or nonsense) is configured", async () => {
  assert.equal(new TargetVersion("").get(), null);
  assert.equal(new TargetVersion("latest").get(), null);
  const t = new TargetVersion("");
  assert.equal(await t.refresh(info(undefined, false)), null);
});
