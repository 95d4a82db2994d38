import assert from "node:assert/strict";
import { decodeJwt, decodeProtectedHeader, SignJWT } from "jose";
import { AccessTokenError, keyFromSecret, signAccessToken, verifyAccessToken } from "./jwt.ts";

const key = keyFromSecret("k".repeat(16) + "0123456789abcdef");
const otherKey = keyFromSecret("a-completely-different-32b-secret!");
const user = { sub: "Y0moqFplrX4", username: "alice", role: "admin" };
const now = new Date("2025-03-01T12:00:00.400Z");
const at = (seconds: number) => new Date(now.getTime() + seconds * 1000);

const b64url = (value: unknown) =>
  btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");

/** Refused with the given jose code; only ERR_JWT_EXPIRED may surface as `expired`. */
async function refused(token: string, detail: string, when = now) {
  await assert.rejects(verifyAccessToken(key, token, when), (err) => {
    assert.ok(err instanceof AccessTokenError, String(err));
    assert.equal(err.detail, detail);
    assert.equal(err.reason, detail === "ERR_JWT_EXPIRED" ? "expired" : "invalid");
    if (token) assert.ok(!err.message.includes(token), "the message never echoes the token");
    return true;
  });
}

Deno.test("signAccessToken issues an HS256 token with the documented claims", async () => {
  const { token, expiresAt, jti } = await signAccessToken(key, user, 900, now);
  assert.deepEqual(decodeProtectedHeader(token), { alg: "HS256", typ: "JWT" });
  const iat = Date.parse("2025-03-01T12:00:00Z") / 1000;
  assert.deepEqual(decodeJwt(token), { ...user, iss: "dhis2gw", iat, exp: iat + 900, jti });
  assert.equal(expiresAt.toISOString(), "2025-03-01T12:15:00.000Z");
  assert.match(jti, /^[0-9a-f-]{36}$/);
  const second = await signAccessToken(key, user, 900, now);
  assert.notEqual(second.jti, jti);
});

Deno.test("verifyAccessToken returns the claims until the exp second", async () => {
  const { token, jti } = await signAccessToken(key, user, 900, now);
  const iat = Date.parse("2025-03-01T12:00:00Z") / 1000;
  const expected = { ...user, iss: "dhis2gw", iat, exp: iat + 900, jti };
  assert.deepEqual(await verifyAccessToken(key, token, now), expected);
  assert.deepEqual(await verifyAccessToken(key, token, at(899)), expected);
  await refused(token, "ERR_JWT_EXPIRED", new Date("2025-03-01T12:15:00.000Z"));
  await refused(token, "ERR_JWT_EXPIRED", at(86_400));
});

Deno.test("a token signed with another key is invalid", async () => {
  const { token } = await signAccessToken(otherKey, user, 900, now);
  await refused(token, "ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
});

Deno.test("a tampered payload is invalid", async () => {
  const { token } = await signAccessToken(key, { ...user, role: "viewer" }, 900, now);
  const [header, payload, signature] = token.split(".");
  const claims = decodeJwt(token);
  const forged = b64url({ ...claims, role: "admin" });
  assert.notEqual(forged, payload);
  await refused(`${header}.${forged}.${signature}`, "ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
});

Deno.test("alg none and other algorithms are refused even with valid claims", async () => {
  const claims = decodeJwt((await signAccessToken(key, user, 900, now)).token);
  await refused(
    `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims)}.`,
    "ERR_JOSE_ALG_NOT_ALLOWED",
  );
  const hs512 = await new SignJWT(claims).setProtectedHeader({ alg: "HS512" }).sign(key);
  await refused(hs512, "ERR_JOSE_ALG_NOT_ALLOWED");
});

Deno.test("wrong issuer or missing claims are invalid", async () => {
  const iat = Math.floor(now.getTime() / 1000);
  const base = { ...user, iat, exp: iat + 900, jti: "j1", iss: "dhis2gw" };
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(key);
  assert.equal((await verifyAccessToken(key, await sign(base), now)).jti, "j1");
  await refused(await sign({ ...base, iss: "someone-else" }), "ERR_JWT_CLAIM_VALIDATION_FAILED");
  for (const claim of ["iss", "sub", "exp", "iat", "jti"]) {
    const claims: Record<string, unknown> = { ...base };
    delete claims[claim];
    await refused(await sign(claims), "ERR_JWT_CLAIM_VALIDATION_FAILED");
  }
  // Signed by us but not the shape we issue: checked after jose, by verifyAccessToken itself.
  for (const claim of ["username", "role"]) {
    const claims: Record<string, unknown> = { ...base };
    delete claims[claim];
    await refused(await sign(claims), "ERR_CLAIMS_SHAPE");
  }
  await refused(await sign({ ...base, role: ["admin"] }), "ERR_CLAIMS_SHAPE");
});

Deno.test("the token generation and login time travel as gen and auth_time", async () => {
  const iat = Date.parse("2025-03-01T12:00:00Z") / 1000;
  const { token, jti } = await signAccessToken(
    key,
    { ...user, gen: 3, authTime: iat - 60 },
    900,
    now,
  );
  assert.deepEqual(decodeJwt(token), {
    ...user,
    gen: 3,
    auth_time: iat - 60,
    iss: "dhis2gw",
    iat,
    exp: iat + 900,
    jti,
  });
  assert.deepEqual(await verifyAccessToken(key, token, now), {
    ...user,
    gen: 3,
    authTime: iat - 60,
    iss: "dhis2gw",
    iat,
    exp: iat + 900,
    jti,
  });
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT({ ...user, iat, exp: iat + 900, jti: "j", iss: "dhis2gw", ...claims })
      .setProtectedHeader({ alg: "HS256" }).sign(key);
  await refused(await sign({ gen: "3" }), "ERR_CLAIMS_SHAPE");
  await refused(await sign({ gen: 1.5 }), "ERR_CLAIMS_SHAPE");
  await refused(await sign({ auth_time: "yesterday" }), "ERR_CLAIMS_SHAPE");
});

Deno.test("garbage is invalid, not a crash", async () => {
  for (const garbage of ["", "abc", "a.b.c", "a.b", "....", "Bearer x"]) {
    await refused(garbage, "ERR_JWS_INVALID");
  }
  await refused(null as unknown as string, "ERR_JWS_INVALID");
});

Deno.test("keys shorter than 32 bytes are refused when made and when used", async () => {
  assert.throws(() => keyFromSecret("x".repeat(31)), RangeError);
  assert.equal(keyFromSecret("x".repeat(32)).length, 32);
  const short = new Uint8Array(31);
  await assert.rejects(signAccessToken(short, user, 900, now), RangeError);
  await assert.rejects(verifyAccessToken(short, "a.b.c", now), RangeError);
  await assert.rejects(signAccessToken(key, user, 0, now), RangeError);
});
