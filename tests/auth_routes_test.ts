/**
 * The route → roles policy, written out here by hand: who may call what. It is not read back
 * from the routes' own declarations (their `x-roles`), so a route that lets a viewer purge the
 * logs fails this test instead of agreeing with itself. Every route the app serves must be in
 * the table, so a new route without a decided policy fails too.
 *
 * Each route is called with no credentials and as viewer, submitter and admin over Bearer,
 * Token and Basic, with a harmless request (a uid that does not exist, an empty body): a role
 * not listed gets 403, a listed one never 401/403/5xx (the exact status where EXACT knows it).
 */
import assert from "node:assert/strict";
import { WWW_AUTHENTICATE } from "../src/auth/guard.ts";
import type { Role } from "../src/auth/principal.ts";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const ADMIN: Role[] = ["admin"];
const READERS: Role[] = ["admin", "viewer"];
const SUBMITTERS: Role[] = ["admin", "submitter"];
const ANYONE: Role[] = ["admin", "submitter", "viewer"];

interface Policy {
  /**
   * "public": no credential needed (and none refused). "cookie": the console's own session
   * only (admin/session.ts); no Authorization header of any kind is taken, so always 401 here.
   */
  roles: Role[] | "public" | "cookie";
  /** The user named by the `uid` path parameter may call it about themselves, whatever role. */
  self?: true;
}

const PUBLIC: Policy = { roles: "public" };
const only = (roles: Role[], self?: true): Policy => ({ roles, ...(self ? { self } : {}) });

/** Keys as `METHOD /path/{param}`. */
const POLICY: Record<string, Policy> = {
  // Probes, docs and the console's page shells carry no data.
  "GET /": PUBLIC,
  "GET /health": PUBLIC,
  "GET /ready": PUBLIC,
  "GET /openapi.json": PUBLIC,
  "GET /swagger": PUBLIC,
  "GET /swagger/": PUBLIC,
  "GET /swagger/index.html": PUBLIC,
  "GET /swagger/assets/swagger-ui-dist/{file}": PUBLIC,
  "GET /admin": PUBLIC,
  "GET /admin/login": PUBLIC,
  "GET /admin/static/{file}": PUBLIC,
  "GET /admin/submissions": PUBLIC,
  "GET /admin/submissions/{id}": PUBLIC,
  "GET /admin/mappings": PUBLIC,
  "GET /admin/users": PUBLIC,
  "GET /admin/users/{uid}/tokens": PUBLIC,
  "GET /admin/status": PUBLIC,
  "GET /admin/account": PUBLIC,
  "GET /admin/users/{uid}": PUBLIC,
  "GET /admin/mappings/new": PUBLIC,
  "GET /admin/mappings/{uid}": PUBLIC,
  // Signing in and out of the console: the password or the cookie is the credential.
  "POST /admin/session": PUBLIC,
  "DELETE /admin/session": PUBLIC,
  "GET /admin/session": { roles: "cookie" },
  "GET /admin/requests": PUBLIC,
  "GET /admin/audit": PUBLIC,

  // Getting a credential.
  "POST /api/v3/users/getToken": PUBLIC,
  "POST /api/v3/users/refreshToken": PUBLIC,
  "POST /api/v3/users/logout": only(ANYONE),
  "GET /api/v3/test2": only(ANYONE),

  // Users and their API tokens.
  "POST /api/v3/user": only(ADMIN),
  "POST /api/v3/users": only(ADMIN),
  "GET /api/v3/users": only(ADMIN),
  "GET /api/v3/users/{uid}": only(ADMIN, true),
  "PUT /api/v3/users/{uid}": only(ADMIN, true),
  "DELETE /api/v3/users/{uid}": only(ADMIN),
  "POST /api/v3/users/{uid}/tokens": only(ADMIN, true),
  "GET /api/v3/users/{uid}/tokens": only(ADMIN, true),
  "PUT /api/v3/users/{uid}/tokens/{id}": only(ADMIN),
  "DELETE /api/v3/users/{uid}/tokens/{id}": only(ADMIN, true),

  // Submissions and their log.
  "POST /api/v3/aggregate": only(SUBMITTERS),
  // Tracker data (src/tracker/): the same roles as aggregate submissions and mappings.
  "POST /api/v3/tracker": only(SUBMITTERS),
  "POST /api/v3/events": only(SUBMITTERS),
  "POST /api/v3/trackedEntities": only(SUBMITTERS),
  "GET /api/v3/tracker/mappings": only(ANYONE),
  "PUT /api/v3/tracker/mappings": only(ADMIN),
  "GET /api/v3/logs": only(ANYONE),
  "GET /api/v3/logs/export/csv": only(ANYONE),
  "GET /api/v3/logs/{id}": only(ANYONE),
  "DELETE /api/v3/logs/{id}": only(ADMIN),
  "DELETE /api/v3/logs/purge": only(ADMIN),
  "POST /api/v3/logs/requeue": only(ADMIN),
  "POST /api/v3/logs/{id}/requeue": only(ADMIN),
  "GET /api/v3/aggregate/reenqueue/{task_id}": only(ADMIN),
  "POST /api/v3/aggregate/reenqueue/{task_id}": only(ADMIN),
  "POST /api/v3/aggregate/reenqueue/batch": only(ADMIN),
  "GET /api/v3/status": only(READERS),
  "GET /api/v3/status/submissions": only(READERS),
  "GET /api/v3/status/health": only(READERS),
  // Prometheus: readers, and the scrape token (tests/metrics_test.ts).
  "GET /metrics": only(READERS),
  "GET /api/v3/requests": only(READERS),
  "GET /api/v3/audit": only(ADMIN),
  "GET /api/v3/audit/export.csv": only(ADMIN),

  // Mappings.
  "GET /api/v3/mappings": only(ANYONE),
  "GET /api/v3/mappings/{uid}": only(ANYONE),
  "GET /api/v3/mappings/export/csv": only(ANYONE),
  "GET /api/v3/mappings/export/excel": only(ANYONE),
  "GET /api/v3/mappings/export/excel-template": only(ANYONE),
  "POST /api/v3/mappings": only(ADMIN),
  "PUT /api/v3/mappings/{uid}": only(ADMIN),
  "DELETE /api/v3/mappings/{uid}": only(ADMIN),
  "POST /api/v3/mappings/import/csv": only(ADMIN),
  "POST /api/v3/mappings/import/excel": only(ADMIN),

  // The console's fragments: every role signs in (issue 14); what a role may not read or do
  // is refused by the API the fragment calls as that user. Never over Basic (see below).
  "GET /admin/f/submissions/list": only(ANYONE),
  "GET /admin/f/submissions/maintenance": only(ANYONE),
  "GET /admin/f/submissions/{id}": only(ANYONE),
  "POST /admin/f/submissions/{id}/delete": only(ADMIN),
  "POST /admin/f/submissions/{id}/requeue": only(ADMIN),
  "POST /admin/f/submissions/purge": only(ADMIN),
  "POST /admin/f/submissions/requeue": only(ADMIN),
  "POST /admin/f/submissions/requeue-matching": only(ADMIN),
  "GET /admin/f/mappings/list": only(ANYONE),
  "GET /admin/f/mappings/tools": only(ANYONE),
  "POST /admin/f/mappings/import": only(ADMIN),
  // Others get a page saying these need an admin.
  "GET /admin/f/mappings/new": only(ANYONE),
  "GET /admin/f/mappings/{uid}/edit": only(ANYONE),
  "POST /admin/f/mappings/new": only(ADMIN),
  "POST /admin/f/mappings/{uid}/edit": only(ADMIN),
  "POST /admin/f/mappings/{uid}/delete": only(ADMIN),
  "GET /admin/f/users/list": only(ANYONE),
  "GET /admin/f/users/new": only(ANYONE),
  "POST /admin/f/users": only(ADMIN),
  "POST /admin/f/users/{uid}/deactivate": only(ADMIN),
  "GET /admin/f/users/{uid}/edit": only(ADMIN, true),
  "POST /admin/f/users/{uid}/edit": only(ADMIN),
  "GET /admin/f/users/{uid}/tokens": only(ADMIN, true),
  "POST /admin/f/users/{uid}/tokens": only(ADMIN, true),
  "POST /admin/f/users/{uid}/tokens/{id}/revoke": only(ADMIN, true),
  "GET /admin/f/account": only(ANYONE),
  "POST /admin/f/account/password": only(ANYONE),
  "GET /admin/f/status": only(READERS),
  // The DHIS2 banner on every page: empty for a submitter, who may not read the status.
  "GET /admin/f/health": only(ANYONE),

  "GET /admin/f/requests/list": only(READERS),
  // Others get a line saying the audit is for admins; it reads nothing from /api/v3/audit.
  "GET /admin/f/audit/list": only(ANYONE),

  // The old service's API (src/compat/): each route is its /api/v3 route's, with its roles.
  "GET /mappings/export/excel-template": PUBLIC, // headers only, unauthenticated as before
  "GET /swagger/doc.json": PUBLIC,
  "GET /logs-viewer": PUBLIC, // a redirect to the console
  "GET /api/v2/test2": only(ANYONE),
  "POST /api/v2/user": only(ADMIN),
  "GET /api/v2/users": only(ADMIN),
  "GET /api/v2/users/{uid}": only(ADMIN, true),
  "PUT /api/v2/users/{uid}": only(ADMIN, true),
  "POST /api/v2/aggregate": only(SUBMITTERS),
  "GET /api/v2/logs": only(ANYONE),
  "GET /api/v2/logs/{id}": only(ANYONE),
  "DELETE /api/v2/logs/{id}": only(ADMIN),
  "DELETE /api/v2/logs/purge": only(ADMIN),
  "GET /api/v2/aggregate/reenqueue/{task_id}": only(ADMIN),
  "POST /api/v2/aggregate/reenqueue/{task_id}": only(ADMIN),
  "POST /api/v2/aggregate/reenqueue/batch": only(ADMIN),
  "GET /api/v2/mappings": only(ANYONE),
  "GET /api/v2/mappings/export/excel": only(ANYONE),
  "POST /api/v2/mappings/import/csv": only(ADMIN),
  "POST /api/v2/mappings/import/excel": only(ADMIN),
  // Anyone's own long-lived token. Last: with a Token header they rotate it, and the table's
  // later calls use the successor (see `call`).
  "POST /api/v2/users/getToken": only(ANYONE),
  "POST /api/v2/users/refreshToken": only(ANYONE),
};

/** Exact status for an allowed caller making the harmless call, where it is known. */
const EXACT: Record<string, number> = {
  "POST /api/v3/user": 422, // {} has no username
  "POST /api/v3/users/logout": 422, // {} has no refreshToken
  "POST /api/v3/users": 422,
  "GET /api/v3/users": 200,
  "GET /api/v3/test2": 200,
  "GET /api/v3/users/{uid}": 404,
  "PUT /api/v3/users/{uid}": 404, // {} is a valid partial update, of nobody
  "DELETE /api/v3/users/{uid}": 404,
  "POST /api/v3/users/{uid}/tokens": 422, // {} has no name
  "GET /api/v3/users/{uid}/tokens": 404,
  "PUT /api/v3/users/{uid}/tokens/{id}": 404,
  "DELETE /api/v3/users/{uid}/tokens/{id}": 404,
  "DELETE /api/v3/logs/purge": 422, // no filter: refuses to purge everything by accident
  "GET /api/v3/logs": 200,
  "GET /api/v3/status": 200,
  "GET /api/v3/status/health": 200,
  "GET /metrics": 200,
  "GET /health": 200,
  "GET /api/v2/test2": 200,
  "POST /api/v2/user": 400, // the old API's 422 is a 400
  "GET /api/v2/users": 200,
  "GET /api/v2/users/{uid}": 404,
  "PUT /api/v2/users/{uid}": 404,
  "GET /api/v2/logs": 200,
  "GET /api/v2/logs/{id}": 404,
  "DELETE /api/v2/logs/{id}": 404,
  "DELETE /api/v2/logs/purge": 400,
  "GET /api/v2/mappings": 200,
  "POST /api/v2/mappings/import/csv": 400, // no file
  "POST /api/v2/mappings/import/excel": 400,
  "GET /mappings/export/excel-template": 200,
  "GET /swagger/doc.json": 200,
  "GET /logs-viewer": 302,
};

/** The same routes about the caller's own account (`self`), harmless again. */
const EXACT_SELF: Record<string, number> = {
  "GET /api/v3/users/{uid}": 200,
  "PUT /api/v3/users/{uid}": 200,
  "POST /api/v3/users/{uid}/tokens": 422,
  "GET /api/v3/users/{uid}/tokens": 200,
  "DELETE /api/v3/users/{uid}/tokens/{id}": 404,
  "GET /admin/f/users/{uid}/edit": 200,
  "GET /admin/f/users/{uid}/tokens": 200,
  "POST /admin/f/users/{uid}/tokens": 422,
  "POST /admin/f/users/{uid}/tokens/{id}/revoke": 404,
  "GET /api/v2/users/{uid}": 200,
  "PUT /api/v2/users/{uid}": 200,
};

/**
 * Bodies for fragments that check their form before they call the API: enough to get past that
 * check, so a viewer's call reaches the API's refusal. Still harmless (no such id; a dry run).
 */
const BODIES: Record<string, () => BodyInit> = {
  "POST /admin/f/submissions/requeue": () => new URLSearchParams({ id: "987654321" }),
  "POST /admin/f/mappings/import": () => {
    const form = new FormData();
    form.set("file", new File(["code,dataelement\r\n"], "empty.csv", { type: "text/csv" }));
    return form;
  },
};

const NO_SUCH_UID = "Zq0000000Zz";
const PARAMS: Record<string, string> = {
  uid: NO_SUCH_UID,
  id: "987654321",
  task_id: NO_SUCH_UID,
  file: "swagger-ui.css",
};

function concretePath(path: string, uid = NO_SUCH_UID): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    if (name === "uid") return uid;
    if (name === "file" && path.startsWith("/admin/")) return "admin.css";
    return PARAMS[name] ?? assert.fail(`no test value for {${name}} in ${path}`);
  });
}

/** Served operations as `METHOD /path/{param}`; middleware (ALL, wildcards) left out. */
function served(routes: { method: string; path: string }[]): string[] {
  const out = new Set<string>();
  for (const r of routes) {
    if (r.method === "ALL" || r.path.includes("*")) continue;
    out.add(`${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, "{$1}")}`);
  }
  return [...out].sort();
}

dbTest("every route the app serves is in the literal role table, and answers by it", async () => {
  const db = await createTestDb("auth_routes");
  const t = await createTestApp(db);
  try {
    // The table and the app list the same routes: no route without a decided policy.
    assert.deepEqual(served(t.app.routes), Object.keys(POLICY).sort());

    // The document tells clients the same policy.
    const failures: string[] = [];
    const doc = t.app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: { title: "w", version: "0" },
    });
    for (const [path, item] of Object.entries(doc.paths ?? {})) {
      for (const [method, op] of Object.entries(item as Record<string, Record<string, unknown>>)) {
        const name = `${method.toUpperCase()} ${path}`;
        const policy = POLICY[name];
        const roles = typeof policy.roles === "string" ? undefined : [...policy.roles].sort();
        const declared = (op["x-roles"] as Role[] | undefined)?.slice().sort();
        if (JSON.stringify(declared) !== JSON.stringify(roles)) {
          failures.push(`${name}: documented x-roles ${declared}, the policy says ${roles}`);
        }
        if (op["x-self"] !== (policy.self ? "uid" : undefined)) {
          failures.push(`${name}: documented x-self ${op["x-self"]}`);
        }
      }
    }

    let checked = 0;
    const call = async (name: string, headers: Record<string, string>, uid?: string) => {
      const [method, path] = name.split(" ");
      const init: RequestInit = { method, headers: { ...headers } };
      if (BODIES[name]) init.body = BODIES[name]();
      else if (method !== "GET") {
        const form = path.startsWith("/admin/f/");
        (init.headers as Record<string, string>)["Content-Type"] = form
          ? "application/x-www-form-urlencoded"
          : "application/json";
        init.body = form ? "" : "{}";
      }
      const res = await t.app.request(concretePath(path, uid), { ...init, redirect: "manual" });
      checked++;
      const text = await res.text();
      // The old getToken rotates the Token it was called with: carry on with the successor.
      const auth = headers.Authorization ?? "";
      if (res.status === 201 && path.startsWith("/api/v2/users/") && auth.startsWith("Token ")) {
        for (const u of Object.values(t.users)) {
          if (u.headers.token.Authorization === auth) {
            u.headers.token.Authorization = `Token ${JSON.parse(text).token}`;
          }
        }
      }
      return { status: res.status, text: text.slice(0, 200), headers: res.headers };
    };

    for (const [name, policy] of Object.entries(POLICY)) {
      const anon = await call(name, {});
      if (policy.roles === "cookie") {
        for (const role of ["viewer", "submitter", "admin"] as const) {
          for (const scheme of ["bearer", "token", "basic"] as const) {
            const res = await call(name, t.users[role].headers[scheme]);
            if (res.status !== 401) failures.push(`${name} via ${scheme}: ${res.status}`);
          }
        }
        if (anon.status !== 401) failures.push(`${name} without a cookie: ${anon.status}`);
        continue;
      }
      if (policy.roles === "public") {
        if (anon.status === 401 || anon.status === 403 || anon.status >= 500) {
          failures.push(`${name} is public but answered ${anon.status} without credentials`);
        }
      } else if (anon.status !== 401) {
        failures.push(`${name} no credentials: ${anon.status}, not 401`);
      } else if (
        name.startsWith("/api/") && anon.headers.get("www-authenticate") !== WWW_AUTHENTICATE
      ) {
        failures.push(`${name} no credentials: 401 without WWW-Authenticate`);
      }

      for (const role of ["viewer", "submitter", "admin"] as const) {
        for (const scheme of ["bearer", "token", "basic"] as const) {
          const who = `${name} as ${role} via ${scheme}`;
          const res = await call(name, t.users[role].headers[scheme]);
          const allowed = policy.roles === "public" || policy.roles.includes(role);
          // A browser replays a cached Basic login cross-site: fragments never take one.
          if (scheme === "basic" && name.includes(" /admin/f/")) {
            if (res.status !== 401) failures.push(`${who}: ${res.status}, not 401`);
            if (policy.self) {
              const own = await call(name, t.users[role].headers[scheme], t.users[role].uid);
              if (own.status !== 401) failures.push(`${who} about themselves: ${own.status}`);
            }
            continue;
          } else if (!allowed) {
            if (res.status !== 403) failures.push(`${who}: ${res.status}, not 403: ${res.text}`);
          } else if (EXACT[name] !== undefined) {
            if (res.status !== EXACT[name]) {
              failures.push(`${who}: ${res.status}, not ${EXACT[name]}: ${res.text}`);
            }
          } else if (res.status === 401 || res.status === 403 || res.status >= 500) {
            failures.push(`${who}: ${res.status} for an allowed role: ${res.text}`);
          }
          if (!policy.self) continue;
          const own = await call(name, t.users[role].headers[scheme], t.users[role].uid);
          if (own.status !== EXACT_SELF[name]) {
            failures.push(`${who} about themselves: ${own.status}, not ${EXACT_SELF[name]}`);
          }
        }
      }
    }
    assert.deepEqual(failures, []);
    assert.equal(checked, Object.keys(POLICY).length * 10 + Object.keys(EXACT_SELF).length * 9);
  } finally {
    await t.close();
    await db.close();
  }
});
