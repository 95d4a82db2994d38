import assert from "node:assert/strict";
import {
  cleanGoCombo,
  mapOldStatus,
  type OldToken,
  type OldUser,
  planMapping,
  planToken,
  planUser,
} from "./plan.ts";

const NOW = new Date("2026-06-01T00:00:00Z");
const DAY = 86_400_000;
const TOKEN = "0123456789abcdef0123456789abcdef01234567";

Deno.test("cleanGoCombo: what the old export wrote for a *string becomes empty", () => {
  const table: Array<[unknown, string, string | undefined]> = [
    ["<nil>", "", "<nil>"],
    [" 0xc000123abc ", "", "0xc000123abc"],
    ["0XC00001", "", "0XC00001"],
    [null, "", undefined],
    ["", "", undefined],
    ["PT59n8BQbqM", "PT59n8BQbqM", undefined],
    // A real UID that merely starts like a pointer is not one (it has non-hex letters).
    ["xc0Lz8QbqMa", "xc0Lz8QbqMa", undefined],
  ];
  for (const [input, value, was] of table) {
    assert.deepEqual(
      cleanGoCombo(input),
      was === undefined ? { value } : { value, was },
      String(input),
    );
  }
});

Deno.test("mapOldStatus: every status the old service stored, and the ones it never did", () => {
  const table: Array<[string | null, string, boolean, string | null]> = [
    ["OK", "delivered", true, null],
    ["SUCCESS", "delivered", true, null],
    ["WARNING", "partial", true, null],
    ["ERROR", "rejected", true, null],
    ["failed", "dead", true, "failed"],
    ["queued", "dead", false, "never_finished"],
    ["", "dead", false, "never_finished"],
    [null, "dead", false, "never_finished"],
    ["archived", "dead", false, "never_finished"],
    ["success", "dead", false, "never_finished"],
  ];
  for (const [old, status, attempted, candidate] of table) {
    const r = mapOldStatus(old);
    assert.deepEqual([r.status, r.attempted, r.requeueCandidate], [status, attempted, candidate]);
  }
});

Deno.test("planToken: active 40-hex tokens keep working, for the configured lifetime at most", () => {
  const t = (o: Partial<OldToken>): OldToken => ({
    id: 1,
    user_id: 1,
    token: TOKEN,
    is_active: true,
    expires_at: null,
    ...o,
  });
  assert.deepEqual(planToken(t({}), 365, NOW), {
    ok: true,
    token: TOKEN,
    expires: new Date(NOW.getTime() + 365 * DAY),
  });
  const soon = new Date(NOW.getTime() + 10 * DAY);
  assert.deepEqual(planToken(t({ expires_at: soon }), 365, NOW), {
    ok: true,
    token: TOKEN,
    expires: soon,
  });
  const late = new Date(NOW.getTime() + 900 * DAY);
  assert.equal(
    (planToken(t({ expires_at: late }), 90, NOW) as { expires: Date }).expires.getTime(),
    NOW.getTime() + 90 * DAY,
  );
  const past = planToken(t({ expires_at: new Date(NOW.getTime() - DAY) }), 30, NOW);
  assert.equal(past.ok && past.expires.getTime(), NOW.getTime() + 30 * DAY);
  assert.match(past.ok ? past.note ?? "" : "", /expires_at 2026-05-31 had passed/);
  assert.deepEqual(planToken(t({ is_active: false }), 365, NOW), {
    ok: false,
    reason: "deactivated in the old service",
  });
  for (const bad of ["", TOKEN.toUpperCase(), TOKEN.slice(1), `${TOKEN}0`]) {
    assert.deepEqual(planToken(t({ token: bad }), 365, NOW), {
      ok: false,
      reason: "not a 40-hex token",
    });
  }
});

Deno.test("planUser: admins stay admins, others submit; unusable names and hashes are said", () => {
  const u = (o: Partial<OldUser>): OldUser => ({
    id: 1,
    uid: "",
    username: "hmis",
    password: "$2a$10$0123456789ABCDEFGHIJKuCx5gvYqX8yUsEpAeOrQrFC44eA.2uRS",
    firstname: "A",
    lastname: "B",
    telephone: "",
    email: "",
    is_active: true,
    is_admin_user: false,
    role_name: "SMS User",
    ...o,
  });
  const p = planUser(u({}));
  assert.ok(p.ok);
  assert.deepEqual([p.role, p.uid, p.email, p.unusablePassword], ["submitter", null, null, false]);
  const admin = planUser(u({ role_name: "Administrator", uid: "hMisUser001" }));
  assert.ok(admin.ok);
  assert.deepEqual([admin.role, admin.uid], ["admin", "hMisUser001"]);
  const plain = planUser(u({ password: "plaintext" }));
  assert.ok(plain.ok && plain.unusablePassword && !plain.passwordHash.includes("plaintext"));
  for (const name of ["x", "ab", "with space", ".dot"]) {
    assert.equal(planUser(u({ username: name })).ok, false, name);
  }
});

Deno.test("planMapping: cleans and reports, keeps dhis2gw's checks", () => {
  const base = {
    id: 1,
    uid: "abcdefghijk",
    name: "ANC 1",
    code: "ANC1",
    description: "",
    dataset: "",
    dataelement: "fbfJHSPpUQD",
    category_option_combo: "<nil>",
    instance_name: "",
    source_name: "default",
    what: null,
    source_orgunit: "",
    dest_orgunit: "",
    category_option: "",
    category_combo: "",
    dimension_type: "none",
  };
  const p = planMapping(base);
  assert.ok(p.ok);
  assert.deepEqual(p.cleaned, [
    `category_option_combo "<nil>" → empty`,
    "instance_name '' → default",
    "what '' → de",
  ]);
  assert.deepEqual(
    [p.input.categoryOptionCombo, p.input.instanceName, p.input.what, p.uid],
    ["", "default", "de", "abcdefghijk"],
  );
  const ou = planMapping({ ...base, dataelement: "", dest_orgunit: "DiszpKrYNg8", code: "HC" });
  assert.ok(ou.ok);
  assert.equal(ou.input.what, "ou");
  assert.equal(ou.input.sourceOrgUnit, "HC");
  const bad = planMapping({ ...base, dataelement: "nope" });
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? "" : bad.reason, /^dataElement must be a DHIS2 UID/);
});
