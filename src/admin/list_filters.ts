/**
 * A list fragment's filters and page, read from its URL (the page's query string, which the
 * filter form writes), for the API list route behind it and for its pager's links.
 */

/** Each of `keys`' non-empty values in `url`, trimmed; `defaults` fill keys the URL lacks. */
export function filtersOf(
  url: string,
  keys: readonly string[],
  defaults: Record<string, string> = {},
): URLSearchParams {
  const from = new URL(url).searchParams;
  const q = new URLSearchParams();
  for (const k of keys) for (const v of from.getAll(k)) if (v.trim()) q.append(k, v.trim());
  for (const [k, v] of Object.entries(defaults)) if (!from.has(k)) q.set(k, v);
  return q;
}

/** The API query for the page `url` asks for: the filters, `page` and `page_size`. */
export function pageQuery(url: string, filters: URLSearchParams, pageSize: number) {
  const query = new URLSearchParams(filters);
  query.set("page", new URL(url).searchParams.get("page") ?? "1");
  query.set("page_size", String(pageSize));
  return query;
}
