/**
 * JSON parsing that keeps every number exactly as the client wrote it.
 *
 * `JSON.parse` turns `1000000`, `0.1` and `1.50` into doubles, and the old service then printed
 * them as `1e+06` (bug §10.1-6). V8's JSON.parse source-text access (the reviver's third
 * argument, `context.source`; in V8 since 11.4, Deno 2) hands us the literal text of each
 * number, and `JSON.rawJSON` keeps it: `JSON.stringify` writes it back verbatim.
 */

import { jsonTooDeepAt, MAX_JSON_DEPTH } from "../http/input_text.ts";

/** A number as written in the request: `{ rawJSON: "1.50" }`, frozen, null prototype. */
export interface RawNumber {
  readonly rawJSON: string;
}

type SourceReviver = (
  this: unknown,
  key: string,
  value: unknown,
  context?: { source?: string },
) => unknown;

const parseWithSource = JSON.parse as unknown as (text: string, reviver: SourceReviver) => unknown;
const J = JSON as unknown as {
  rawJSON?: (text: string) => RawNumber;
  isRawJSON?: (value: unknown) => boolean;
};

/** True when this runtime gives revivers the source text (checked once, at import). */
export const SOURCE_TEXT_SUPPORTED = (() => {
  let seen: string | undefined;
  try {
    parseWithSource("1.50", (_k, v, ctx) => {
      seen = ctx?.source;
      return v;
    });
  } catch { /* an old engine */ }
  return seen === "1.50" && typeof J.rawJSON === "function" && typeof J.isRawJSON === "function";
})();

/**
 * Parses JSON text; every number becomes a RawNumber holding its literal text. Throws
 * SyntaxError on malformed JSON, like JSON.parse, and on nesting deeper than MAX_JSON_DEPTH:
 * V8 calls a reviver recursively, and about 5,000 levels overflowed the stack (a 500).
 */
export function parseKeepingNumbers(text: string): unknown {
  if (!SOURCE_TEXT_SUPPORTED) {
    throw new Error("this JavaScript runtime lacks JSON.parse source text access (need Deno 2)");
  }
  const at = jsonTooDeepAt(text);
  if (at >= 0) {
    throw new SyntaxError(`nested deeper than ${MAX_JSON_DEPTH} levels at character ${at}`);
  }
  return parseWithSource(
    text,
    (_key, value, context) =>
      typeof value === "number" && context?.source !== undefined
        ? J.rawJSON!(context.source)
        : value,
  );
}

export function isRawNumber(value: unknown): value is RawNumber {
  return J.isRawJSON!(value);
}

const EXPONENT = /^(-?)(\d+)(?:\.(\d+))?[eE]([+-]?\d+)$/;
/** Longest plain-decimal expansion we write; `1e400` is no data value anyone means. */
export const MAX_NUMBER_LENGTH = 100;

/**
 * The text DHIS2 receives for a JSON number: exactly as written, except that exponent notation
 * (which DHIS2's numeric check refuses in lower case and with `+`) is expanded to the same value
 * in plain decimal, digit by digit, never through a double: `1e3` → `1000`, `1.5E-3` →
 * `0.0015`, `2.50e1` → `25.0`. Returns null when the expansion would exceed MAX_NUMBER_LENGTH.
 */
export function plainNumberText(source: string): string | null {
  const m = EXPONENT.exec(source);
  if (!m) return source;
  const [, sign, int, frac = "", expText] = m;
  const exp = Number(expText);
  if (Math.abs(exp) > MAX_NUMBER_LENGTH) return null;
  const digits = int + frac;
  const point = int.length + exp;
  let whole: string, fraction: string;
  if (point <= 0) {
    whole = "0";
    fraction = "0".repeat(-point) + digits;
  } else if (point >= digits.length) {
    whole = digits + "0".repeat(point - digits.length);
    fraction = "";
  } else {
    whole = digits.slice(0, point);
    fraction = digits.slice(point);
  }
  whole = whole.replace(/^0+(?=\d)/, "");
  const text = `${sign}${whole}${fraction ? `.${fraction}` : ""}`;
  return text.length > MAX_NUMBER_LENGTH ? null : text;
}
