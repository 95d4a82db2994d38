import assert from "node:assert/strict";
import {
  constantTimeEqualHex,
  hashToken,
  newApiToken,
  newRefreshToken,
  parseApiToken,
  randomSecretBytes,
} from "./secrets.ts";

Deno.test("hashToken is the SHA-256 hex of the whole token", () => {
  // Known answer from `printf 'abc' | sha256sum`.
  assert.equal(
    hashToken("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("newApiToken: shape, prefix, hash and uniqueness", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const { token, prefix, hash } = newApiToken();
    assert.match(token, /^d2gw_[A-Za-z0-9]{8}_[A-Za-z0-9]{40}$/);
    assert.equal(token.slice(5, 13), prefix);
    assert.equal(parseApiToken(token), prefix);
    assert.equal(hash, hashToken(token));
    assert.match(hash, /^[0-9a-f]{64}$/);
    seen.add(token);
  }
  assert.equal(seen.size, 500);
});

Deno.test("newApiToken draws every base62 character about equally often", () => {
  const counts = new Map<string, number>();
  for (let i = 0; i < 2000; i++) {
    for (const c of newApiToken().token.slice(14)) counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  // 80,000 draws over 62 symbols: about 1,290 each, standard deviation about 36.
  assert.equal(counts.size, 62);
  for (const [c, n] of counts) assert.ok(n > 1_100 && n < 1_480, `${c}: ${n}`);
});

Deno.test("parseApiToken returns the prefix of well-formed tokens only", () => {
  const secret = "a".repeat(32);
  assert.equal(parseApiToken(`d2gw_AbCd1234_${secret}`), "AbCd1234");
  assert.equal(parseApiToken(`d2gw_AbCd1234_${"Z9".repeat(64)}`), "AbCd1234");
  for (
    const bad of [
      "",
      "d2gw_",
      `d2gw_AbCd123_${secret}`, // 7-character prefix
      `d2gw_AbCd12345_${secret}`,
      `d2gw_AbCd1234_${"a".repeat(31)}`,
      `d2gw_AbCd1234_${"a".repeat(129)}`,
      `D2GW_AbCd1234_${secret}`,
      `d2gw_AbCd-234_${secret}`,
      `d2gw_AbCd1234_${secret}\n`,
      ` d2gw_AbCd1234_${secret}`,
      "eyJhbGciOiJIUzI1NiJ9.e30.abc",
    ]
  ) assert.equal(parseApiToken(bad), null, JSON.stringify(bad));
  assert.equal(parseApiToken(undefined as unknown as string), null);
});

Deno.test("newRefreshToken: 32 random bytes as base64url, with its hash", () => {
  const a = newRefreshToken();
  const b = newRefreshToken();
  assert.match(a.token, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(a.hash, hashToken(a.token));
  assert.notEqual(a.token, b.token);
  assert.notEqual(a.hash, b.hash);
});

Deno.test("constantTimeEqualHex compares digests and refuses odd input without throwing", () => {
  const h = hashToken("x");
  assert.equal(constantTimeEqualHex(h, hashToken("x")), true);
  assert.equal(constantTimeEqualHex(h, h.toUpperCase()), true);
  assert.equal(constantTimeEqualHex(h, hashToken("y")), false);
  assert.equal(constantTimeEqualHex(h, h.slice(0, 62)), false);
  assert.equal(constantTimeEqualHex(h.slice(0, 63), h.slice(0, 63)), false);
  assert.equal(constantTimeEqualHex(`${h.slice(0, 63)}g`, `${h.slice(0, 63)}g`), false);
  assert.equal(constantTimeEqualHex("", ""), false);
  assert.equal(constantTimeEqualHex(h, null as unknown as string), false);
});

Deno.test("randomSecretBytes returns n fresh bytes and refuses silly sizes", () => {
  assert.equal(randomSecretBytes(32).length, 32);
  assert.notDeepEqual(randomSecretBytes(32), randomSecretBytes(32));
  for (const n of [0, -1, 1.5, 65_537, NaN]) assert.throws(() => randomSecretBytes(n), RangeError);
});
