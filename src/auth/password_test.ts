import assert from "node:assert/strict";
import {
  checkPasswordPolicy,
  dummyVerify,
  hashPassword,
  needsRehash,
  verifyPassword,
} from "./password.ts";

const PHC = /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;

Deno.test("hashPassword stores parameters, a 16-byte salt and a 32-byte key", async () => {
  const a = await hashPassword("correct horse battery");
  const b = await hashPassword("correct horse battery");
  assert.match(a, PHC);
  assert.notEqual(a, b, "a fresh salt each time");
  assert.equal(needsRehash(a), false);
});

Deno.test("verifyPassword accepts the password and refuses any other", async () => {
  const stored = await hashPassword("correct horse battery");
  assert.equal(await verifyPassword("correct horse battery", stored), true);
  assert.equal(await verifyPassword("correct horse batterY", stored), false);
  assert.equal(await verifyPassword("", stored), false);
});

Deno.test("verifyPassword treats composed and decomposed accents as the same password", async () => {
  const stored = await hashPassword("caf\u00e9 au lait!");
  assert.equal(await verifyPassword("cafe\u0301 au lait!", stored), true);
});

Deno.test("verifyPassword reads hashes made with other parameters, needsRehash flags them", async () => {
  // Produced once with node:crypto scrypt("legacy-password", salt, 32, { N: 1024, r: 8, p: 1 }).
  const legacy = "scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw$" +
    "dqKFXnp+82quonPSbsArQNTtMHFZHK+9zTDVDjU6Hvo";
  assert.equal(await verifyPassword("legacy-password", legacy), true);
  assert.equal(await verifyPassword("legacy-passwore", legacy), false);
  assert.equal(needsRehash(legacy), true);
});

Deno.test("malformed stored hashes verify as false and never throw", async () => {
  const good = await hashPassword("correct horse battery");
  const [, N, r, p, salt, hash] = good.split("$");
  const malformed = [
    "",
    "scrypt",
    "plaintext-password",
    `argon2id$${N}$${r}$${p}$${salt}$${hash}`,
    `scrypt$${N}$${r}$${p}$${salt}`,
    `scrypt$${N}$${r}$${p}$${salt}$${hash}$extra`,
    `scrypt$1000$${r}$${p}$${salt}$${hash}`, // N not a power of two
    `scrypt$${2 ** 24}$${r}$${p}$${salt}$${hash}`, // would need 16 GiB
    `scrypt$016384$${r}$${p}$${salt}$${hash}`,
    `scrypt$${N}$0$${p}$${salt}$${hash}`,
    `scrypt$${N}$${r}$-1$${salt}$${hash}`,
    `scrypt$${N}$${r}$${p}$${salt}$not*base64`,
    `scrypt$${N}$${r}$${p}$${salt}$${hash}=`,
    `scrypt$${N}$${r}$${p}$${salt}$${hash.slice(0, 10)}`, // 7-byte key
    `scrypt$${N}$${r}$${p}$AAAA$${hash}`, // 3-byte salt
  ];
  for (const stored of malformed) {
    assert.equal(await verifyPassword("correct horse battery", stored), false, stored);
    assert.equal(needsRehash(stored), true, stored);
  }
  assert.equal(await verifyPassword("x", null as unknown as string), false);
});

Deno.test("dummyVerify is false and costs about what a real verify costs", async () => {
  const stored = await hashPassword("correct horse battery");
  const t0 = performance.now();
  await verifyPassword("wrong password!", stored);
  const real = performance.now() - t0;
  const t1 = performance.now();
  assert.equal(await dummyVerify("wrong password!"), false);
  const dummy = performance.now() - t1;
  // Same parameters, so the same work; the wide band only absorbs scheduler noise.
  assert.ok(dummy > real / 3 && dummy < real * 3, `real ${real} ms, dummy ${dummy} ms`);
});

Deno.test("checkPasswordPolicy: table of passwords and their exact reasons", () => {
  const cases: [string, string | undefined, string[]][] = [
    ["correct horse battery", "alice", []],
    ["Tr0ub4dor&3", undefined, []],
    ["short1!", undefined, ["must be at least 10 characters long"]],
    ["", undefined, ["must be at least 10 characters long"]],
    ["aaaaaaaaaaaa", undefined, ["must not repeat a single character"]],
    ["abcdefghijk", undefined, ["must not be a simple sequence such as abcdef or 987654"]],
    ["9876543210", undefined, ["must not be a simple sequence such as abcdef or 987654"]],
    // Not a one-step walk (9 to 0 jumps back), so only the blocklist catches it.
    ["1234567890", undefined, ["is one of the most commonly used passwords"]],
    ["Password123", undefined, ["is one of the most commonly used passwords"]],
    ["QWERTYUIOP", undefined, ["is one of the most commonly used passwords"]],
    ["admin12345", undefined, ["is one of the most commonly used passwords"]],
    ["District1#", undefined, ["is one of the most commonly used passwords"]],
    ["kampala-admin-2024", "Kampala-Admin", ["must not contain the username"]],
    ["datamanager", "datamanager", ["must not contain the username"]],
    ["al-is-my-name-here", "al", []],
    ["x".repeat(257) + "y", undefined, ["must be at most 256 characters long"]],
  ];
  for (const [password, username, expected] of cases) {
    assert.deepEqual(checkPasswordPolicy(password, { username }), expected, password);
  }
});

Deno.test("checkPasswordPolicy counts characters, not UTF-16 units", () => {
  // Ten emoji are 20 UTF-16 units but ten characters: accepted at exactly the minimum.
  const tenEmoji = "🔒🌍🏥📊🧪💉🩺📈🚑🧬";
  assert.equal(tenEmoji.length, 20);
  assert.deepEqual(checkPasswordPolicy(tenEmoji), []);
  assert.deepEqual(checkPasswordPolicy("🔒🌍🏥📊🧪"), ["must be at least 10 characters long"]);
});

Deno.test("verifyPassword reads the old Go service's bcrypt hashes, needsRehash replaces them", async () => {
  // Made with libxcrypt's crypt(3), not with the bcrypt dhis2gw verifies with: pgcrypto's cost 6
  // (the old seed admin's '@dm1n') and Go's DefaultCost 10.
  const pgcrypto = "$2a$06$abcdefghijklmnopqrstuuysK4CrQBxKrxKZs0cx0cNFHz1HcekDO";
  const goDefault = "$2a$10$0123456789ABCDEFGHIJKuCx5gvYqX8yUsEpAeOrQrFC44eA.2uRS";
  assert.equal(await verifyPassword("@dm1n", pgcrypto), true);
  assert.equal(await verifyPassword("@dm1N", pgcrypto), false);
  assert.equal(await verifyPassword("s3cret-old-pass", goDefault), true);
  assert.equal(await verifyPassword("s3cret-old-pas", goDefault), false);
  assert.equal(needsRehash(pgcrypto), true);
  // A planted cost of 31 (2^31 rounds) is refused without being tried.
  const t0 = performance.now();
  assert.equal(await verifyPassword("@dm1n", pgcrypto.replace("$06$", "$31$")), false);
  assert.ok(performance.now() - t0 < 1000);
});
