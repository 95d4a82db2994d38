/**
 * Paging and time bounds of the plain list routes (GET /api/v3/requests, /api/v3/audit),
 * parsed strictly: every bad or unknown parameter is reported at once, by name, in one 422.
 */
import type { FieldProblem } from "./errors.ts";
import { AppError } from "./errors.ts";

export interface Paging {
  page: number;
  pageSize: number;
}

/** A bound as the caller wrote it: a whole day in server.timezone, or an instant. */
export type TimeBound = { day: string } | { instant: string };

// new Date("2026-02-30") is March 2nd (or invalid); the round trip catches both.
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export class ListQuery {
  readonly problems: FieldProblem[] = [];
  constructor(private q: Record<string, string>, known: readonly string[]) {
    for (const k of Object.keys(q)) {
      if (!known.includes(k) && k !== "page" && k !== "page_size") {
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
