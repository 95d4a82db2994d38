import assert from "node:assert/strict";
import { CredentialCache } from "./credential_cache.ts";

const entry = (userId: number, tokenId?: number) => ({ principal: { userId, tokenId } });

Deno.test("entries expire after the TTL", () => {
  let now = 1000;
  const cache = new CredentialCache(30_000, 10, () => now);
  cache.set("a", entry(1));
  now += 29_999;
  assert.deepEqual(cache.get("a"), entry(1));
  now += 1;
  assert.equal(cache.get("a"), undefined);
  assert.equal(cache.size, 0);
});

Deno.test("a full cache drops its oldest entry", () => {
  const cache = new CredentialCache(30_000, 2);
  cache.set("a", entry(1));
  cache.set("b", entry(2));
  cache.set("c", entry(3));
  assert.equal(cache.get("a"), undefined);
  assert.ok(cache.get("b") && cache.get("c"));
});

Deno.test("forgetUser and forgetToken drop exactly the matching entries", () => {
  const cache = new CredentialCache(30_000);
  cache.set("basic-1", entry(1));
  cache.set("token-1", entry(1, 10));
  cache.set("token-2", entry(2, 20));
  cache.forgetToken(10);
  assert.equal(cache.get("token-1"), undefined);
  assert.ok(cache.get("basic-1"));
  cache.forgetUser(1);
  assert.equal(cache.get("basic-1"), undefined);
  assert.ok(cache.get("token-2"));
});

Deno.test("a TTL of 0 caches nothing", () => {
  const cache = new CredentialCache(0);
  cache.set("a", entry(1));
  assert.equal(cache.get("a"), undefined);
});
