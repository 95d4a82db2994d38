import assert from "node:assert/strict";
import { MAX_JSON_DEPTH } from "../http/input_text.ts";
import {
  isRawNumber,
  MAX_NUMBER_LENGTH,
  parseKeepingNumbers,
  plainNumberText,
  SOURCE_TEXT_SUPPORTED,
} from "./raw_json.ts";

Deno.test("this runtime gives revivers the number's source text", () => {
  assert.equal(SOURCE_TEXT_SUPPORTED, true);
});

Deno.test("numbers keep their written text through parse and stringify", () => {
  const text = '{"a":1000000,"b":0.1,"c":1.50,"d":-0,"e":[2.0,1e3],"f":"1.50","g":true}';
  const v = parseKeepingNumbers(text) as Record<string, unknown>;
  assert.ok(isRawNumber(v.a));
  assert.equal((v.c as { rawJSON: string }).rawJSON, "1.50");
  assert.equal(v.f, "1.50");
  assert.equal(isRawNumber(v.f), false);
  assert.equal(JSON.stringify(v), text);
  assert.throws(() => parseKeepingNumbers('{"a":'), SyntaxError);
});

Deno.test("exponent notation is written out exactly, digit by digit", () => {
  const cases: Array<[string, string | null]> = [
    ["1000000", "1000000"],
    ["0.1", "0.1"],
    ["1.50", "1.50"],
    ["-12", "-12"],
    ["1e3", "1000"],
    ["1E+06", "1000000"],
    ["1.5e-3", "0.0015"],
    ["-2.50E1", "-25.0"],
    ["12.345e2", "1234.5"],
    ["0.5e1", "5"],
    ["0e5", "0"],
    ["9.007199254740993e15", "9007199254740993"], // beyond a double's precision
    ["1e-7", "0.0000001"],
    [`1e${MAX_NUMBER_LENGTH + 1}`, null],
    ["1e100", null], // 101 characters
  ];
  for (const [input, want] of cases) assert.equal(plainNumberText(input), want, input);
  assert.equal(plainNumberText("1e99")?.length, MAX_NUMBER_LENGTH);
});

Deno.test("nesting deeper than MAX_JSON_DEPTH is a SyntaxError, not a stack overflow", () => {
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
  assert.throws(() => parseKeepingNumbers(deep(10_000)), {
    name: "SyntaxError",
    message: `nested deeper than ${MAX_JSON_DEPTH} levels at character ${MAX_JSON_DEPTH}`,
  });
  assert.equal(JSON.stringify(parseKeepingNumbers(deep(MAX_JSON_DEPTH))), deep(MAX_JSON_DEPTH));
  // Brackets inside strings are text, not nesting.
  const inString = `{"a":"${"[".repeat(200)}"}`;
  assert.equal(JSON.stringify(parseKeepingNumbers(inString)), inString);
});
