import type { OpenAPIHono, RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { z } from "zod";
import type { AppEnv } from "./env.ts";
import { AppError, type FieldProblem } from "./errors.ts";
import {
  decodeUrlComponent,
  jsonTooDeepAt,
  MAX_JSON_DEPTH,
  mayHoldUnstorable,
  unstorableStrings,
} from "./input_text.ts";

/** Turns zod issues into field-named problems for the error envelope. */
export function zodProblems(error: z.ZodError, prefix?: string): FieldProblem[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    return {
      field: [prefix, path].filter(Boolean).join(".") || "(body)",
      // zod's "Invalid input: expected string, received undefined" means a missing field.
      message: issue.code === "invalid_type" && / received undefined$/.test(issue.message)
        ? "is required"
        : issue.message,
    };
  });
}

function invalidRequest(problems: FieldProblem[]): AppError {
  return new AppError(
    "validation_failed",
    `invalid request: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`.slice(
      0,
      2000,
    ),
    { details: problems },
  );
}

/** The defaultHook of every OpenAPIHono router: a failed zod check becomes a 422 envelope. */
export function validationHook(
  result: { success: boolean; error?: z.ZodError; target?: string },
): void {
  if (result.success || !result.error) return;
  throw invalidRequest(
    zodProblems(result.error, result.target === "json" ? undefined : result.target),
  );
}

/**
 * Problems in a URL's path and query: a NUL, or percent-encoded bytes that are not UTF-8.
 * Query parameters are named as in the other 422s (`q`, `orgUnit`); the path as `(path)`, as
 * this runs before routing and does not know the parameters' names.
 */
export function urlProblems(url: string): FieldProblem[] {
  // The URL parser percent-encodes control characters and replaces lone surrogates, so only
  // a URL with a `%` can decode to something unstorable.
  if (!url.includes("%")) return [];
  const problems: FieldProblem[] = [];
  const { pathname, search } = new URL(url);
  for (const segment of pathname.split("/")) {
    const { problem } = decodeUrlComponent(segment, false);
    if (problem) {
      problems.push({ field: "(path)", message: problem });
      break;
    }
  }
  problems.push(...formProblems(search.slice(1)));
  return problems;
}

/** Problems in `a=1&b=2` text (a query string or an urlencoded form), by parameter name. */
export function formProblems(text: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (!text.includes("%")) return problems;
  for (const pair of text.split("&")) {
    const eq = pair.indexOf("=");
    const key = decodeUrlComponent(eq < 0 ? pair : pair.slice(0, eq), true);
    const value = decodeUrlComponent(eq < 0 ? "" : pair.slice(eq + 1), true);
    if (key.problem) problems.push({ field: "(query)", message: `a name ${key.problem}` });
    else if (value.problem) problems.push({ field: key.text, message: value.problem });
    if (problems.length >= 20) break;
  }
  return problems;
}

/**
 * Refuses JSON `text` nested deeper than MAX_JSON_DEPTH (400) or holding a string PostgreSQL
 * cannot store (422 naming its JSON path). Text that does not parse is left to the route, which
 * says how it is malformed.
 */
export function checkJsonText(text: string): void {
  const at = jsonTooDeepAt(text);
  if (at >= 0) {
    const message = `the JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`;
    throw new AppError("bad_request", `${message} (at character ${at})`, {
      details: [{ field: "(body)", message }],
    });
  }
  if (!mayHoldUnstorable(text)) return;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return;
  }
  const problems = unstorableStrings(value);
  if (problems.length) throw invalidRequest(problems);
}

const FORM = /^\s*application\/x-www-form-urlencoded\b/i;
const MULTIPART = /^\s*multipart\//i;

/**
 * App-wide, before routing: a path or query parameter holding text PostgreSQL cannot store is
 * a 422 naming it, whichever route would read it and however (zod or by hand).
 */
export const guardRequestUrl: MiddlewareHandler<AppEnv> = async (c, next) => {
  const problems = urlProblems(c.req.url);
  if (problems.length) throw invalidRequest(problems);
  await next();
};

/**
 * The body check of a route that declares a body, chosen by what the route declares rather
 * than by the request's Content-Type: the JSON routes parse JSON whatever the header says, so a
 * JSON body under a form or multipart header must be checked as JSON too. A form is checked
 * field by field on a route that takes forms; multipart uploads (mapping files) on a route that
 * takes them are checked cell by cell by the importer (mappings/model.ts).
 */
export function guardRequestBody(declared: readonly string[] = []): MiddlewareHandler<AppEnv> {
  const takesForm = declared.some((t) => FORM.test(t));
  const takesMultipart = declared.some((t) => MULTIPART.test(t));
  return async (c, next) => {
    if (c.req.raw.body !== null) {
      const type = c.req.header("content-type") ?? "";
      if (takesMultipart && MULTIPART.test(type)) {
        // The importer reads the parts and checks every cell.
      } else if (takesForm && FORM.test(type)) {
        const form = formProblems(await c.req.text());
        if (form.length) throw invalidRequest(form);
      } else {
        checkJsonText(await c.req.text());
      }
    }
    await next();
  };
}

/**
 * Makes `router.openapi` give every route that declares a request body guardRequestBody,
 * after the route's own middleware (the role check: a refused caller's body is never read)
 * and before its validators and handler. Routes never read a body they do not declare
 * (tests/openapi_test.ts checks it), so every body read is checked, with no route having to
 * remember it.
 */
export function guardDeclaredBodies<R extends OpenAPIHono<AppEnv>>(router: R): R {
  const openapi = router.openapi;
  router.openapi = ((route: RouteConfig, ...rest: unknown[]) => {
    if (!route.request?.body) return (openapi as (...a: unknown[]) => unknown)(route, ...rest);
    const own = route.middleware === undefined
      ? []
      : Array.isArray(route.middleware)
      ? route.middleware
      : [route.middleware];
    return (openapi as (...a: unknown[]) => unknown)(
      {
        ...route,
        middleware: [...own, guardRequestBody(Object.keys(route.request.body.content ?? {}))],
      },
      ...rest,
    );
  }) as typeof openapi;
  return router;
}
