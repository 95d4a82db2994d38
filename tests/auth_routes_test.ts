/**
 * Every route of the app, read from its OpenAPI document (so a route added by any domain is
 * covered without touching this file) × {no credentials, viewer, submitter, admin} ×
 * {Bearer, Token, Basic}. The expected status comes from the operation's `x-roles`:
 * no credentials → 401, a role not listed → 403, a listed role → the status of a harmless call
 * (a uid that does not exist, an empty JSON body), exact where this table knows it.
 */
import assert from "node:assert/strict";
import { WWW_AUTHENTICATE } from "../src/auth/guard.ts";
import { PUBLIC_ROUTES } from "../src/auth/middleware.ts";
import type { Role } from "../src/auth/principal.ts";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

/** Exact status for an allowed caller making the harmless call, where it is known. */
const EXACT: Record<string, number> = {
  "POST /api/v2/user": 422, // {} has no username
  "POST /api/v2/users/logout": 422, // {} has no refreshToken
  "POST /api/v2/users": 422,
  "GET /api/v2/users": 200,
  "GET /api/v2/test2": 200,
  "GET /api/v2/users/{uid}": 404,
  "PUT /api/v2/users/{uid}": 404, // {} is a valid partial update, of nobody
  "DELETE /api/v2/users/{uid}": 404,
  "POST /api/v2/users/{uid}/tokens": 422, // {} has no name
  "GET /api/v2/users/{uid}/tokens": 404,
  "PUT /api/v2/users/{uid}/tokens/{id}": 404,
  "DELETE /api/v2/users/{uid}/tokens/{id}": 404,
};

interface Operation {
  parameters?: Array<{ name: string; in: string; schema?: { type?: string } }>;
  requestBody?: { content?: Record<string, unknown> };
  "x-roles"?: Role[];
}

const NO_SUCH_UID = "Zq0000000Zz";

function concretePath(path: string, op: Operation): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const p = op.parameters?.find((x) => x.in === "path" && x.name === name);
    const t = p?.schema?.type;
    return t === "integer" || t === "number" ? "987654321" : NO_SUCH_UID;
  });
}

dbTest("every route × every caller × every scheme answers exactly as its x-roles say", async () => {
  const db = await createTestDb("auth_routes");
  const t = await createTestApp(db);
  try {
    const doc = t.app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: { title: "walk", version: "0" },
    });
    const failures: string[] = [];
    let checked = 0;
    for (const [path, item] of Object.entries(doc.paths ?? {})) {
      for (const [method, raw] of Object.entries(item as Record<string, Operation>)) {
        const op = raw as Operation;
        const name = `${method.toUpperCase()} ${path}`;
        if (PUBLIC_ROUTES.has(name)) continue; // take no credential; tested in auth_sessions_test
        const roles = op["x-roles"];
        if (path.startsWith("/api/v2/") && !roles) {
          failures.push(`${name}: has no x-roles (declare it with secureRoute)`);
          continue;
        }
        const url = concretePath(path, op);
        const json = op.requestBody?.content?.["application/json"] !== undefined;
        const call = async (headers: Record<string, string>) => {
          const res = await t.app.request(url, {
            method: method.toUpperCase(),
            headers: json ? { ...headers, "Content-Type": "application/json" } : headers,
            body: json ? "{}" : undefined,
          });
          checked++;
          return res;
        };

        const anon = await call({});
        await anon.body?.cancel();
        if (roles) {
          if (anon.status !== 401) failures.push(`${name} no credentials: ${anon.status}, not 401`);
          else if (anon.headers.get("www-authenticate") !== WWW_AUTHENTICATE) {
            failures.push(`${name} no credentials: 401 without WWW-Authenticate`);
          }
        } else if (anon.status === 401 || anon.status === 403) {
          failures.push(`${name} is public but answered ${anon.status}`);
        }

        for (const role of ["viewer", "submitter", "admin"] as const) {
          for (const scheme of ["bearer", "token", "basic"] as const) {
            const res = await call(t.users[role].headers[scheme]);
            const text = (await res.text()).slice(0, 200);
            const who = `${name} as ${role} via ${scheme}`;
            if (!roles) {
              if (res.status === 401 || res.status === 403) {
                failures.push(`${who}: ${res.status} on a public route`);
              }
            } else if (!roles.includes(role)) {
              if (res.status !== 403) failures.push(`${who}: ${res.status}, not 403: ${text}`);
            } else if (EXACT[name] !== undefined) {
              if (res.status !== EXACT[name]) {
                failures.push(`${who}: ${res.status}, not ${EXACT[name]}: ${text}`);
              }
            } else if (res.status === 401 || res.status === 403 || res.status >= 500) {
              failures.push(`${who}: ${res.status} for an allowed role: ${text}`);
            }
          }
        }
      }
    }
    assert.deepEqual(failures, []);
    // Guards against a walk that silently found nothing: at least the auth routes are there.
    assert.ok(checked >= Object.keys(EXACT).length * 10, `only ${checked} calls`);
    for (const name of Object.keys(EXACT)) {
      const [method, path] = name.split(" ");
      assert.ok(doc.paths?.[path]?.[method.toLowerCase() as "get"], `${name} is not documented`);
    }
  } finally {
    await t.close();
    await db.close();
  }
});
