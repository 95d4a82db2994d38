/**
 * The query of GET /api/v3/mappings and its exports, parsed with the list routes' ListQuery:
 * every unknown filter, bad `what` or bad page is named in one plain-worded 422.
 */
import { ListQuery, type Paging } from "../http/list_query.ts";
import type { MappingFilter } from "./queries.ts";
import { FilterQuery } from "./schemas.ts";

const KEYS = Object.keys(FilterQuery.shape) as (keyof MappingFilter)[];
const WHAT = ["de", "ou"] as const;

/** Filters (and with `paged`, the page) of a mapping list query; throws the 422. */
export function parseMappingQuery(
  raw: Record<string, string>,
  paged: boolean,
): { filter: MappingFilter; paging: Paging } {
  const q = new ListQuery(raw, KEYS, paged);
  const filter: MappingFilter = {};
  for (const k of KEYS) {
    // Exact filters take the value as given: `attributeOptionCombo=` finds the empty ones.
    const v = k === "what" ? q.choice(k, WHAT) : q.exact(k, 1000);
    if (v !== undefined) filter[k] = v;
  }
  // An export has no pages: its `page` is already named as unknown, not checked as a number.
  const paging = paged ? q.paging(1000, 50) : { page: 1, pageSize: 0 };
  q.done();
  return { filter, paging };
}
