/**
 * Tracker mappings (migration 0017's tracker_mappings): the source's codes for programs, stages,
 * data elements, attributes and option values, scoped as DHIS2 scopes them. The coded routes
 * read them through TrackerMappingCache (mapping_cache.ts), which `changed` invalidates.
 */
import { z } from "@hono/zod-openapi";
import { secureRoute } from "../auth/guard.ts";
import type { Db, Sql } from "../db/db.ts";
import { ListQuery } from "../http/list_query.ts";
import { newRouter } from "../http/router.ts";

export const MAPPING_KINDS = [
  "program",
  "tracked_entity_type",
  "stage",
  "data_element",
  "attribute",
  "option",
] as const;
export type TrackerMappingKind = (typeof MAPPING_KINDS)[number];

export interface TrackerMapping {
  source_name: string;
  kind: TrackerMappingKind;
  scope: string;
  code: string;
  uid: string;
}

/** `kind|scope|code` → uid, for the wanted keys of one source. */
export async function lookupTrackerMappings(
  sql: Db,
  sourceName: string,
  wanted: Array<{ kind: TrackerMappingKind; scope: string; code: string }>,
): Promise<Map<string, string>> {
  if (!wanted.length) return new Map();
  const rows = await sql<{ kind: string; scope: string; code: string; uid: string }[]>`
    select m.kind, m.scope, m.code, m.uid from tracker_mappings m
    join unnest(${wanted.map((w) => w.kind)}::text[], ${wanted.map((w) => w.scope)}::text[],
                ${wanted.map((w) => w.code)}::text[]) as x(kind, scope, code)
      on m.kind = x.kind and m.scope = x.scope and m.code = x.code
    where m.source_name = ${sourceName}`;
  return new Map(rows.map((r) => [`${r.kind}|${r.scope}|${r.code}`, r.uid]));
}

export async function upsertTrackerMappings(sql: Db, list: TrackerMapping[]): Promise<number> {
  if (!list.length) return 0;
  const rows = await sql`
    insert into tracker_mappings (source_name, kind, scope, code, uid)
    select * from unnest(${list.map((m) => m.source_name)}::text[], ${
    list.map((m) => m.kind)
  }::text[],
                         ${list.map((m) => m.scope)}::text[], ${list.map((m) => m.code)}::text[],
                         ${list.map((m) => m.uid)}::text[])
    on conflict (source_name, kind, scope, code)
      do update set uid = excluded.uid, updated = now()
    returning id`;
  return rows.length;
}

const mappingSchema = z.object({
  source_name: z.string().min(1).max(255).default("default"),
  kind: z.enum(MAPPING_KINDS),
  scope: z.string().max(255).default("").openapi({
    description: "program UID for stage and attribute, stage UID for data_element, " +
      "data element or attribute UID for option; empty for program and tracked_entity_type",
  }),
  code: z.string().min(1).max(255),
  uid: z.string().min(1).max(255).openapi({ description: "DHIS2 UID (option: option code)" }),
});

const putRoute = secureRoute({
  method: "put",
  path: "/api/v3/tracker/mappings",
  tags: ["tracker"],
  summary: "Add or replace tracker mappings (programs, stages, data elements, attributes, options)",
  roles: ["admin"],
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          // The example is the demo's (src/http/request_examples.ts).
          schema: z.object({ mappings: z.array(mappingSchema).min(1).max(10000) }),
        },
      },
    },
  },
  responses: {
    200: {
      description: "stored",
      content: { "application/json": { schema: z.object({ stored: z.number().int() }) } },
    },
    422: { description: "invalid mapping; error.details names each field" },
  },
});

const listRoute = secureRoute({
  method: "get",
  path: "/api/v3/tracker/mappings",
  tags: ["tracker"],
  summary: "List tracker mappings",
  roles: ["admin", "viewer", "submitter"],
  request: { query: z.object({ source_name: z.string().optional() }) },
  responses: {
    200: {
      description: "every tracker mapping (of one source when given)",
      content: {
        "application/json": { schema: z.object({ mappings: z.array(mappingSchema) }) },
      },
    },
    422: { description: "an unknown query parameter (named)" },
  },
});

export function trackerMappingRoutes(deps: { sql: Sql; changed: () => void }) {
  return newRouter()
    .openapi(putRoute, async (c) => {
      const { mappings } = c.req.valid("json");
      const stored = await upsertTrackerMappings(deps.sql, mappings as TrackerMapping[]);
      deps.changed();
      return c.json({ stored }, 200);
    })
    .openapi(listRoute, async (c) => {
      // A misspelt filter is named, not ignored into every source's mappings.
      const q = new ListQuery(c.req.query(), ["source_name"], false);
      const source_name = q.exact("source_name", 255);
      q.done();
      const rows = await deps.sql<TrackerMapping[]>`
        select source_name, kind, scope, code, uid from tracker_mappings
        where ${source_name === undefined ? deps.sql`true` : deps.sql`source_name = ${source_name}`}
        order by source_name, kind, scope, code`;
      return c.json({ mappings: [...rows] }, 200);
    });
}
