import type { z } from "zod";
import { AppError, type FieldProblem } from "./errors.ts";

/** Turns zod issues into field-named problems for the error envelope. */
export function zodProblems(error: z.ZodError, prefix?: string): FieldProblem[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    return {
      field: [prefix, path].filter(Boolean).join(".") || "(body)",
      message: issue.message,
    };
  });
}

/** The defaultHook of every OpenAPIHono router: a failed zod check becomes a 422 envelope. */
export function validationHook(
  result: { success: boolean; error?: z.ZodError; target?: string },
): void {
  if (result.success || !result.error) return;
  const problems = zodProblems(result.error, result.target === "json" ? undefined : result.target);
  throw new AppError(
    "validation_failed",
    `invalid request: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`,
    { details: problems },
  );
}
