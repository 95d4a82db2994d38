import assert from "node:assert/strict";
import {
  decodeUrlComponent,
  jsonTooDeepAt,
  MAX_JSON_DEPTH,
  mayHoldUnstorable,
  unstorableReason,
  unstorableStrings,
} from "./input_text.ts";

Deno.test("unstorable text: NUL and lone surrogates, not pairs or other control characters", () => {
  assert.match(unstorableReason("a\u0000b")!, /NUL/);
  assert.match(unstorableReason("\ud800")!, /surrogate/);
  assert.match(unstorableReason("x\udfffy")!, /surrogate/);
  assert.match(unstorableReason("\ude00\ud83d")!, /surrogate/); // a pair in the wrong order
  assert.equal(unstorableReason("\ud83d\ude00"), null);
  assert.equal(unstorableReason("tab\there\u0001"), null);
  assert.equal(unstorableReason(""), null);
});

Deno.test("JSON depth: the offset of the first bracket past the limit, strings skipped", () => {
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
  assert.equal(jsonTooDeepAt(deep(MAX_JSON_DEPTH)), -1);
  assert.equal(jsonTooDeepAt(deep(MAX_JSON_DEPTH + 1)), MAX_JSON_DEPTH);
  assert.equal(jsonTooDeepAt(`{"a":${deep(3)}}`, 3), 7);
  assert.equal(jsonTooDeepAt(`{"a":${deep(2)}}`, 3), -1);
  // Many siblings are not depth.
  assert.equal(jsonTooDeepAt(`[${Array(1000).fill("[]").join(",")}]`), -1);
  // Brackets in strings, escaped quotes included, do not count.
  assert.equal(jsonTooDeepAt(`["\\"${"[".repeat(100)}", 1]`), -1);
  assert.equal(jsonTooDeepAt(`["\\\\", ${deep(70)}]`), 7 + MAX_JSON_DEPTH - 1);
});

Deno.test("the escape pre-check finds every unstorable escape (and some harmless ones)", () => {
  assert.equal(mayHoldUnstorable('{"a":"\\u0000"}'), true);
  assert.equal(mayHoldUnstorable('{"a":"\\uD800"}'), true);
  assert.equal(mayHoldUnstorable('{"a":"\\udfff"}'), true);
  assert.equal(mayHoldUnstorable('{"a":"\\u00e9 \\n"}'), false);
  assert.equal(mayHoldUnstorable('{"a":"\\u0001"}'), false);
});

Deno.test("unstorable strings are found at any depth, in values and names, by path", () => {
  let deep: unknown = "\u0000";
  for (let i = 0; i < 50_000; i++) deep = [deep];
  assert.deepEqual(unstorableStrings(deep).map((p) => p.field), [
    Array(50_000).fill("0").join("."),
  ]);
  const problems = unstorableStrings({
    ok: "fine",
    list: ["x", "\ud800"],
    nested: { ["bad\u0000name"]: 1, deeper: { v: "a\u0000" } },
  });
  assert.deepEqual(problems.map((p) => p.field), [
    "list.1",
    "nested.bad\u0000name",
    "nested.deeper.v",
  ]);
  assert.match(problems[1].message, /^the name contains a NUL/);
  assert.deepEqual(unstorableStrings("\u0000").map((p) => p.field), ["(body)"]);
  assert.equal(unstorableStrings(Array(100).fill("\u0000")).length, 20);
});

Deno.test("URL components decode as Hono does, with what Hono lets through reported", () => {
  assert.deepEqual(decodeUrlComponent("a+b%20c", true), { text: "a b c" });
  assert.deepEqual(decodeUrlComponent("a+b", false), { text: "a+b" });
  assert.deepEqual(decodeUrlComponent("100%", true), { text: "100%" });
  assert.match(
    decodeUrlComponent("%ED%A0%80", true).problem!,
    /%ED%A0%80 is not percent-encoded UTF-8/,
  );
  assert.match(decodeUrlComponent("%FF", true).problem!, /not percent-encoded UTF-8/);
  assert.match(decodeUrlComponent("x%00", true).problem!, /NUL/);
  assert.deepEqual(decodeUrlComponent("%C3%A9", true), { text: "é" });
});
