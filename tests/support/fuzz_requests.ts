/**
 * fast-check arbitraries for tests/fuzz_test.ts: bad requests made from the app's own OpenAPI
 * document. Each request starts from something close to valid (a declared operation, its
 * parameters, a body shaped like its schema, a real credential) and is spoiled in one or more
 * places: NUL and lone surrogates, bytes that are not UTF-8, huge numbers, deep nesting, wrong
 * types, long strings, bad periods and UIDs, odd content types and broken JSON.
 */
import fc from "fast-check";

// deno-lint-ignore no-explicit-any
export type Json = any;

export interface Operation {
  method: string;
  path: string;
  op: Json;
}

/** A request as data, so fast-check can print and shrink it. */
export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | Uint8Array | FormData;
}

export function operations(doc: Json): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const [method, op] of Object.entries(item as Record<string, Json>)) {
      out.push({ method: method.toUpperCase(), path, op });
    }
  }
  return out;
}

const resolve = (doc: Json, s: Json): Json => {
  while (s?.$ref) s = doc.components.schemas[s.$ref.split("/").pop()];
  return s ?? {};
};

/** Strings that have broken something somewhere, or should be refused cleanly. */
export const HOSTILE_STRINGS = [
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udfff",
  "\udc00\ud800",
  "",
  " ",
  "202413",
  "2024W54",
  "2024Q5",
  "20240230",
  "2024BiW27",
  "1abcdefghij",
  "DiszpKrYNg8",
  "not-a-uid",
  "00000000-0000-0000-0000-000000000000",
  "' or 1=1 --",
  "%00",
  "<script>alert(1)</script>",
  "null",
  "-1",
  "1e999",
  "9".repeat(40),
  "x".repeat(70_000),
  "\u202e\u0007\u001b[31m",
  "🙂",
  '\r\n\t\\"',
  "../../etc/passwd",
  "2024-02-30",
  "2024-01-01T25:61:00Z",
];

/** Percent-encoded text for URLs, hostile on purpose (a lone surrogate WTF-8 style, …). */
const HOSTILE_URL_TOKENS = [
  "%00",
  "a%00b",
  "%ED%A0%80",
  "%ED%BF%BF",
  "%FF",
  "%C3",
  "%",
  "%zz",
  "+",
  "%2F..%2F",
  "%E2%80%AE",
  "x".repeat(5_000),
  "1e999",
  "-1",
  "0",
  "99999999999999999999",
  "202413",
];

/** Any text, including lone surrogates and NUL (fast-check's "binary" unit). */
const anyText = fc.string({ unit: "binary", maxLength: 40 });

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: anyText },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);

/** Encodes text for a URL even when it is not well-formed (encodeURIComponent throws then). */
function urlEncode(s: string): string {
  return encodeURIComponent(s.toWellFormed()).replace(
    /%EF%BF%BD/g,
    () => (s.isWellFormed() ? "%EF%BF%BD" : "%ED%A0%80"),
  );
}

export const hostileUrlText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...HOSTILE_URL_TOKENS),
  hostileString.map(urlEncode),
);

/** Placeholders swapped for raw JSON text after JSON.stringify. */
const RAW = [
  "1e400",
  "-1e-400",
  "123456789012345678901234567890123456789",
  "-0",
  "1.0000000000000000000000000001",
  "9007199254740993",
  "[".repeat(65) + "]".repeat(65),
  "[".repeat(10_000) + "]".repeat(10_000),
  '{"a":'.repeat(3_000) + "1" + "}".repeat(3_000),
];
const rawMarker = (i: number) => `\u0001RAW${i}\u0001`;

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.constantFrom(...RAW.map((_, i) => rawMarker(i))) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(null, true, 0, -1, 1.5, [], {}, [null], { a: "\u0000" }),
  },
);

/** A value shaped like `schema`, close to valid: examples, enums and plain values. */
function fromSchema(doc: Json, schema: Json, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(doc, schema);
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return fc.oneof(...alts.map((a: Json) => fromSchema(doc, a, depth + 1)));
  if (s.allOf) return fromSchema(doc, s.allOf[0], depth + 1);
  if (s.enum) return fc.constantFrom(...s.enum);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  const example = s.example !== undefined ? [fc.constant(s.example)] : [];
  switch (type) {
    case "string":
      return fc.oneof(...example, fc.string({ maxLength: 12 }));
    case "integer":
      return fc.oneof(...example, fc.integer({ min: -2, max: 1000 }));
    case "number":
      return fc.oneof(...example, fc.double({ noNaN: true, noDefaultInfinity: true }));
    case "boolean":
      return fc.boolean();
    case "array":
      return depth > 4 ? fc.constant([]) : fc.array(fromSchema(doc, s.items, depth + 1), {
        maxLength: 3,
      });
    case "object":
    default: {
      if (depth > 4 || !s.properties) {
        return s.additionalProperties && depth <= 4
          ? fc.dictionary(
            fc.string({ maxLength: 8 }),
            fromSchema(doc, s.additionalProperties, depth + 1),
            { maxKeys: 3 },
          )
          : fc.oneof(...example, fc.constant({}));
      }
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(s.properties)) model[k] = fromSchema(doc, v, depth + 1);
      return fc.record(model, { requiredKeys: s.required ?? [] });
    }
  }
}

/** Replaces some leaves of `value` (or adds keys) with hostile values, at paths chosen by `rng`. */
function spoil(value: unknown, picks: unknown[], seedKey: string): unknown {
  if (picks.length === 0) return value;
  const copy = structuredClone(value);
  const containers: Array<Record<string, unknown> | unknown[]> = [];
  const walk = (v: unknown) => {
    if (typeof v === "object" && v !== null) {
      containers.push(v as Record<string, unknown>);
      for (const child of Object.values(v)) walk(child);
    }
  };
  walk(copy);
  if (!containers.length) return picks[0];
  picks.forEach((pick, i) => {
    const target = containers[(i * 7 + seedKey.length) % containers.length];
    const keys = Object.keys(target);
    const key = keys.length && i % 3 !== 2 ? keys[(i + seedKey.length) % keys.length] : seedKey;
    (target as Record<string, unknown>)[key] = pick;
  });
  return copy;
}

function stringifyWithRaw(value: unknown): string {
  return JSON.stringify(value).replace(/"\\u0001RAW(\d+)\\u0001"/g, (_, i) => RAW[Number(i)]);
}

/** Broken JSON text made from a good one. */
const brokenJson = (good: string): fc.Arbitrary<string | Uint8Array> =>
  fc.oneof(
    fc.nat({ max: Math.max(0, good.length - 1) }).map((n) => good.slice(0, n)),
    fc.constantFrom(
      "",
      "{",
      "}",
      "[1,]",
      "{'a':1}",
      "\ufeff" + good,
      good + "}",
      good.replace(/:/, ""),
      "NaN",
      '"\\ud800"',
      '{"a":"\\u0000"}',
      '{"__proto__":{"admin":true}}',
      "[".repeat(100_000),
    ),
    fc.constant(new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])),
  );

const CONTENT_TYPES = [
  "text/plain",
  "application/xml",
  "application/json; charset=utf-16",
  "multipart/form-data",
  "multipart/form-data; boundary=zzz",
  "application/x-www-form-urlencoded",
  "application/merge-patch+json",
  "*/*",
  "application/octet-stream",
];

/** A spoiled body for an operation: JSON from its schema with hostile parts, or broken text. */
export function bodyFor(
  doc: Json,
  op: Json,
): fc.Arbitrary<{ type?: string; body?: string | Uint8Array }> {
  const content = op.requestBody?.content as Record<string, Json> | undefined;
  const declared = Object.keys(content ?? {})[0] ?? "application/json";
  const schema = content?.[declared]?.schema ?? { type: "object" };
  const shaped = fromSchema(doc, schema);
  const type = fc.oneof(
    { weight: 6, arbitrary: fc.constant(declared) },
    { weight: 1, arbitrary: fc.constantFrom<string | undefined>(undefined, ...CONTENT_TYPES) },
  );
  const spoiled = fc.tuple(
    shaped,
    fc.array(hostileValue, { maxLength: 3 }),
    fc.string({ maxLength: 6 }),
  )
    .map(([v, picks, key]) => stringifyWithRaw(spoil(v, picks, key || "extra")));
  const body = fc.oneof(
    { weight: 6, arbitrary: spoiled },
    { weight: 2, arbitrary: shaped.chain((v) => brokenJson(JSON.stringify(v) ?? "{}")) },
    {
      weight: 1,
      arbitrary: fc.tuple(hostileUrlText, hostileUrlText).map(([a, b]) => `a=${a}&${b}=1`),
    },
  );
  return fc.record({ type, body });
}

/** A path with each `{param}` filled by something hostile, or by one of `known`. */
export function urlFor(
  doc: Json,
  o: Operation,
  known: string[],
): fc.Arbitrary<string> {
  const params = (o.op.parameters ?? []) as Json[];
  const names = [...o.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
  const pathValue = fc.oneof(hostileUrlText, fc.constantFrom(...known, "1", "abc"));
  const query = params.filter((p) => p.in === "query");
  const queryValue = (p: Json) =>
    fc.oneof(
      { weight: 2, arbitrary: hostileUrlText },
      { weight: 2, arbitrary: fromSchema(doc, p.schema).map((v) => urlEncode(String(v))) },
    );
  const pairs = fc.array(
    query.length
      ? fc.oneof(
        {
          weight: 5,
          arbitrary: fc.constantFrom(...query).chain((p) =>
            queryValue(p).map((v) => `${p.name}=${v}`)
          ),
        },
        {
          weight: 1,
          arbitrary: fc.tuple(hostileUrlText, hostileUrlText).map(([k, v]) => `${k}=${v}`),
        },
      )
      : fc.tuple(hostileUrlText, hostileUrlText).map(([k, v]) => `${k}=${v}`),
    { maxLength: 4 },
  );
  return fc.tuple(fc.array(pathValue, { minLength: names.length, maxLength: names.length }), pairs)
    .map(([values, qs]) => {
      let i = 0;
      const path = o.path.replace(/\{[^}]+\}/g, () => values[i++]);
      return qs.length ? `${path}?${qs.join("&")}` : path;
    });
}

/** Header values must be bytes (Latin-1); odd ones are still fair game. */
export const hostileHeader = fc.constantFrom(
  "x",
  "ÿÿÿ",
  "x".repeat(300),
  " ",
  "key with spaces",
  "\u007f",
  "batch-2024-01",
);
