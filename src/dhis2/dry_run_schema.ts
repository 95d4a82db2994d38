/**
 * The `dhis2` part of a dry-run reply with `dhis2=true`, one schema for every kind: the outcome
 * dhis2gw would record from DHIS2's answer. Kinds differ only in what a conflict is (aggregate:
 * DHIS2's conflict with the caller's codes; tracker: a refused object with its path) and in
 * fields of their own (aggregate's completeDateOmitted).
 */
import { z } from "@hono/zod-openapi";

export function dryRunOutcomeSchema<T extends z.ZodRawShape>(
  conflictsDescription: string,
  extra: T,
) {
  return z.object({
    status: z.enum(["delivered", "partial", "rejected", "retrying", "dead"]).openapi({
      description: "the status dhis2gw would record for this submission",
    }),
    httpStatus: z.number().int().nullable(),
    dhis2Status: z.string().nullable(),
    counts: z.object({
      imported: z.number().int(),
      updated: z.number().int(),
      ignored: z.number().int(),
      deleted: z.number().int(),
    }).nullable(),
    conflicts: z.array(z.record(z.string(), z.unknown())).nullable().openapi({
      description: conflictsDescription,
    }),
    error: z.string().nullable(),
  }).extend(extra);
}
