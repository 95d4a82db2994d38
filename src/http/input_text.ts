/**
 * Text a request may carry but PostgreSQL cannot store, and JSON too deep to handle safely.
 * Pure functions; validation.ts applies them to every request (issue 10, item 4).
 *
 * - NUL (U+0000): PostgreSQL text and jsonb refuse it (`invalid byte sequence` / 22P05).
 * - A lone UTF-16 surrogate (`"\ud800"` in JSON): not Unicode. jsonb refuses the escape, and
 *   text columns silently get U+FFFD instead (postgres.js encodes it as UTF-8 with replacement).
 * - Percent-encoded bytes that are not UTF-8 (`%ED%A0%80` is a surrogate, WTF-8 style; `%FF`):
 *   Hono leaves such a run undecoded, so `?q=%ED%A0%80` searched for the literal text.
 * - Nesting: V8's JSON.parse and JSON.stringify are iterative, but a reviver (raw_json.ts) and
 *   PostgreSQL's jsonb parser recurse, and no request of ours nests deeper than 4 levels.
 */

/**
 * The deepest nesting any JSON body may have. 64 is 16 times the deepest request the API
 * defines (a requeue filter: body → filter → list) and far below where a recursive reader
 * overflows (V8's reviver at about 5,000 levels; jsonb at a few thousand).
 */
export const MAX_JSON_DEPTH = 64;

/** Why PostgreSQL cannot store `s` as text, or null when it can. */
export function unstorableReason(s: string): string | null {
  if (s.includes("\u0000")) {
    return "contains a NUL character (\\u0000), which cannot be stored";
  }
  if (!s.isWellFormed()) {
    return "contains a lone UTF-16 surrogate (such as \\ud800), which is not Unicode text";
  }
  return null;
}

/**
 * The character offset where `text`, read as JSON, first opens a level deeper than `max`, or
 * -1. Brackets inside strings do not count. One pass, no recursion; text that is not JSON just
 * gets a meaningless answer, and the parser refuses it afterwards anyway.
 */
export function jsonTooDeepAt(text: string, max = MAX_JSON_DEPTH): number {
  // Fast path: a body with fewer opening brackets than the limit cannot exceed it.
  let opens = 0;
  for (let i = text.indexOf("[");; i = text.indexOf("[", i + 1)) {
    if (i < 0 || ++opens > max) break;
  }
  for (let i = text.indexOf("{");; i = text.indexOf("{", i + 1)) {
    if (i < 0 || ++opens > max) break;
  }
  if (opens <= max) return -1;

  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > max) return i;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return -1;
}

/**
 * True when JSON `text` may hold a string PostgreSQL cannot store: a `\u0000` escape or a
 * surrogate escape (a raw NUL is not valid JSON, and decoded UTF-8 holds no lone surrogate).
 * A cheap test, so the parsed value is walked only when it says yes.
 */
export function mayHoldUnstorable(text: string): boolean {
  return /\\u(?:0000|[dD][89a-fA-F])/.test(text);
}

/** As errors.ts FieldProblem: a dotted path (`dataValues.ANC1`, `ids.2`) and why. */
export interface TextProblem {
  field: string;
  message: string;
  [extra: string]: unknown;
}

/**
 * Every string and object key in a parsed JSON value that PostgreSQL cannot store, by path,
 * at most `limit`. Iterative, so any depth is safe. `root` names the value itself.
 */
export function unstorableStrings(value: unknown, root = "(body)", limit = 20): TextProblem[] {
  const problems: TextProblem[] = [];
  const stack: Array<[unknown, string]> = [[value, ""]];
  while (stack.length && problems.length < limit) {
    const [v, path] = stack.pop()!;
    if (typeof v === "string") {
      const why = unstorableReason(v);
      if (why) problems.push({ field: path || root, message: why });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], join(path, String(i))]);
    } else if (typeof v === "object" && v !== null && !(v instanceof File)) {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i];
        const keyWhy = unstorableReason(key);
        if (keyWhy) problems.push({ field: join(path, key), message: `the name ${keyWhy}` });
        else stack.push([child, join(path, key)]);
      }
    }
  }
  return problems.slice(0, limit);
}

const join = (path: string, key: string) => path ? `${path}.${key}` : key;

/**
 * Decodes a URL component as Hono does (`+` is a space in a query), but reports what Hono lets
 * through: a run of percent-encoded bytes that is not UTF-8, and text PostgreSQL cannot store.
 * A `%` not followed by two hex digits is kept as it is, like Hono.
 */
export function decodeUrlComponent(
  raw: string,
  plusIsSpace: boolean,
): { text: string; problem?: string } {
  const s = plusIsSpace ? raw.replaceAll("+", " ") : raw;
  if (!s.includes("%")) return { text: s };
  let problem: string | undefined;
  const text = s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      problem ??= `${run.slice(0, 36)} is not percent-encoded UTF-8`;
      return run;
    }
  });
  problem ??= unstorableReason(text) ?? undefined;
  return problem ? { text, problem } : { text };
}
