import assert from "node:assert/strict";
import { generateUid, isUid } from "./uid.ts";

Deno.test("isUid accepts DHIS2 UIDs and refuses everything else", () => {
  for (const ok of ["Y0moqFplrX4", "a0000000000", "Zzzzzzzzzzz"]) assert.equal(isUid(ok), true, ok);
  for (const bad of ["", "0moqFplrX4a", "Y0moqFplrX", "Y0moqFplrX45", "Y0moq-plrX4", 12, null]) {
    assert.equal(isUid(bad), false, String(bad));
  }
});

Deno.test("generateUid produces valid, distinct UIDs", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const uid = generateUid();
    assert.ok(isUid(uid), uid);
    seen.add(uid);
  }
  assert.equal(seen.size, 2000);
});
