/**
 * Paging, filters and time bounds of the list routes (GET /api/v3/requests, /audit, /users,
 * /mappings), parsed strictly: every bad or unknown parameter is reported at once, by name and
 * with what it takes, in one 422. Their zod query schemas are strings, for the OpenAPI document
 * only, so no validator wording reaches a caller.
 */
import { z } from "@hono/zod-openapi";
import type { TimeBound } from "../db/time_bounds.ts";
import type { FieldProblem } from "./errors.ts";
import { AppError } from "./errors.ts";

export interface Paging {
  page: number;
  pageSize: number;
}

/** The query parameters every such list takes besides its own filters (for its OpenAPI). */
export const TIME_AND_PAGING = {
  from: z.string().optional().openapi({ description: "a day (server.timezone) or a time" }),
  to: z.string().optional().openapi({ description: "a day (inclusive) or a time" }),
  ...pagingParams(500, 50),
};

/** `page` and `page_size` for a list's OpenAPI query schema (ListQuery.paging parses them). */
export function pagingParams(maxSize: number, defaultSize: number) {
  return {
    page: z.string().optional().openapi({ description: "from 1 (default 1)", example: "1" }),
    page_size: z.string().optional().openapi({
      description: `1 to ${maxSize} (default ${defaultSize})`,
      example: String(defaultSize),
    }),
  };
}

/** A list reply's fields besides its items (pageOf's), for its OpenAPI schema. */
export const PAGE_FIELDS = {
  total: z.number().int(),
  page: z.number().int(),
  page_size: z.number().int(),
  total_pages: z.number().int(),
};

/** A list reply's page: its items and where they stand in the whole. */
export function pageOf<T>(items: T[], total: number, paging: Paging) {
  return {
    items,
    total,
    page: paging.page,
    page_size: paging.pageSize,
    total_pages: Math.ceil(total / paging.pageSize),
  };
}

// new Date("2026-02-30") is March 2nd (or invalid); the round trip catches both.
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export class ListQuery {
  readonly problems: FieldProblem[] = [];
  /** `paged: false` for a list without pages: `page` and `page_size` are unknown there too. */
  constructor(private q: Record<string, string>, known: readonly string[], paged = true) {
    for (const k of Object.keys(q)) {
      if (!known.includes(k) && !(paged && (k === "page" || k === "page_size"))) {
        this.problems.push({ field: k, message: `unknown parameter; known: ${known.join(", ")}` });
      }
    }
  }

  text(name: string, max = 200): string | undefined {
    const v = this.q[name]?.trim();
    if (!v) return undefined;
    if (v.length > max) this.problems.push({ field: name, message: `at most ${max} characters` });
    return v.slice(0, max);
  }

  /** The value as given, blanks and all (an exact-match filter may look for ""). */
  exact(name: string, max = 200): string | undefined {
    const v = this.q[name];
    if (v !== undefined && v.length > max) {
      this.problems.push({ field: name, message: `at most ${max} characters` });
    }
    return v?.slice(0, max);
  }

  /** One of `values`; empty is absent. */
  choice<T extends string>(name: string, values: readonly T[]): T | undefined {
    const v = this.q[name]?.trim();
    if (!v) return undefined;
    if ((values as readonly string[]).includes(v)) return v as T;
    this.problems.push({ field: name, message: `must be one of ${values.join(", ")}` });
    return undefined;
  }

  /** true/false or 1/0; empty is absent. */
  flag(name: string): boolean | undefined {
    const v = this.q[name]?.trim();
    if (!v) return undefined;
    if (v === "true" || v === "1") return true;
    if (v === "false" || v === "0") return false;
    this.problems.push({ field: name, message: "must be true, false, 1 or 0" });
    return undefined;
  }

  time(name: string): TimeBound | undefined {
    const v = this.q[name]?.trim();
    if (!v) return undefined;
    const t = Date.parse(`${v}T00:00:00Z`);
    if (DAY.test(v) && !Number.isNaN(t) && new Date(t).toISOString().startsWith(v)) {
      return { day: v };
    }
    if (/^\d{4}-\d{2}-\d{2}T/.test(v) && !Number.isNaN(Date.parse(v))) {
      return { instant: new Date(v).toISOString() };
    }
    this.problems.push({
      field: name,
      message: "must be a day (YYYY-MM-DD) or a time (2026-04-30T14:00:00Z)",
    });
    return undefined;
  }

  paging(maxSize = 500, defaultSize = 50): Paging {
    const int = (name: string, dflt: number, max: number) => {
      const raw = this.q[name];
      if (raw === undefined || raw === "") return dflt;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1 || n > max) {
        this.problems.push({ field: name, message: `must be a whole number from 1 to ${max}` });
        return dflt;
      }
      return n;
    };
    return { page: int("page", 1, 1_000_000), pageSize: int("page_size", defaultSize, maxSize) };
  }

  /** Throws the one 422 naming every problem found so far. */
  done(): void {
    if (this.problems.length === 0) return;
    throw new AppError(
      "validation_failed",
      `invalid query: ${this.problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`,
      { details: this.problems },
    );
  }
}
