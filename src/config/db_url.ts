/**
 * The secrets in a database URL: the userinfo password and secret-bearing query parameters
 * (`?password=`, `?sslpassword=`), found for the logger to scrub and replaced for display.
 */
/**
 * Query parameters that carry a secret: libpq's `password` and `sslpassword`, postgres.js's
 * `pass`, and anything else named like one. `passfile` and `sslkey` are paths and stay visible.
 */
const SECRET_PARAM = /(pass(word|wd)?|pwd|secret|token)$/i;

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}

interface UrlParts {
  head: string;
  /** Where the userinfo password starts and ends in `head`, if there is one. */
  password?: [number, number];
  /** `?…#…`, as written. */
  tail: string;
}

/**
 * Splits a database URL by hand rather than with `new URL`: a Unix-socket URL
 * (`postgres://u:pw@/db?host=/run/postgresql`) is no WHATWG URL, and a password with a raw `@`
 * or `/` in it is common. The password runs to the last `@` before the query: when in doubt
 * more is hidden, never less.
 */
function splitUrl(uri: string): UrlParts {
  const q = uri.search(/[?#]/);
  const head = q < 0 ? uri : uri.slice(0, q);
  const tail = q < 0 ? "" : uri.slice(q);
  const scheme = head.indexOf("://");
  const at = head.lastIndexOf("@");
  if (scheme < 0 || at < scheme) return { head, tail };
  const colon = head.indexOf(":", scheme + 3);
  if (colon < 0 || colon > at) return { head, tail };
  return { head, tail, password: [colon + 1, at] };
}

const PARAM = /([?&])([^=&#]*)=([^&#]*)/g;

/** The secrets a database URL holds, as written and decoded. */
export function urlSecrets(uri: string): Array<{ value: string }> {
  const { head, password, tail } = splitUrl(uri);
  const raw: string[] = [];
  if (password && password[1] > password[0]) raw.push(head.slice(password[0], password[1]));
  for (const [, , name, value] of tail.matchAll(PARAM)) {
    if (SECRET_PARAM.test(decode(name)) && value !== "") raw.push(value);
  }
  const out = new Set<string>();
  for (const r of raw) {
    out.add(r);
    out.add(decode(r));
  }
  return [...out].map((value) => ({ value }));
}

/** A database URL with its password (in the userinfo or a query parameter) replaced. */
export function redactUrl(uri: string): string {
  const { head, password, tail } = splitUrl(uri);
  const shownHead = password && password[1] > password[0]
    ? `${head.slice(0, password[0])}REDACTED${head.slice(password[1])}`
    : head;
  const shownTail = tail.replace(
    PARAM,
    (all, sep: string, name: string) =>
      SECRET_PARAM.test(decode(name)) ? `${sep}${name}=REDACTED` : all,
  );
  return shownHead + shownTail;
}
