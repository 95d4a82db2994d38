/**
 * The router factory every domain builds its HTTP surface with (Hono's pattern for larger apps:
 * module routers from one small shared factory, mounted by http/app.ts with `app.route()`; no
 * domain imports the app back). Each router validates with the one hook that renders problems in
 * the error envelope, and checks declared bodies for text PostgreSQL cannot store.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./env.ts";
import { guardDeclaredBodies, validationHook } from "./validation.ts";

export function newRouter(): OpenAPIHono<AppEnv> {
  return guardDeclaredBodies(new OpenAPIHono<AppEnv>({ defaultHook: validationHook }));
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's X-Request-Id when it is a sane token, else a fresh one. */
export function requestIdFor(incoming: string | null | undefined): string {
  return incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
}
