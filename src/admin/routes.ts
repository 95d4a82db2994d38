/**
 * The admin console at /admin: public page shells, the script and stylesheet, and the
 * fragments (fragments.ts) that carry the data for the signed-in user. Mounted by http/app.ts.
 * Not in the OpenAPI document (docs.ts UNDOCUMENTED_PREFIXES); the API it calls is.
 */
import { Hono } from "hono";
import type { AppEnv } from "../http/env.ts";
import { destinationsOf } from "../config/config.ts";
import { AppError } from "../http/errors.ts";
import type { AdminDeps } from "./context.ts";
import { AuditPage } from "./audit_view.tsx";
import { fragmentRoutes } from "./fragments.ts";
import { sessionRoutes } from "./session_routes.ts";
import { AccountPage } from "./account_view.tsx";
import { UserEditPage } from "./user_edit_view.tsx";
import { MappingEditPage } from "./mapping_edit_view.tsx";
import { isLoopbackHost } from "./session_routes.ts";
import { cameOverHttps } from "./session.ts";
import { RequestsPage } from "./requests_view.tsx";
import {
  LoginPage,
  MappingsPage,
  StatusPage,
  SubmissionPage,
  SubmissionsPage,
  UsersPage,
  UserTokensPage,
} from "./pages.tsx";

// Everything from this app: a CSP that also proves no page can pull anything from elsewhere.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

// Codes, not text, in the URL: a crafted link cannot put its own words on the sign-in page.
const LOGIN_MESSAGES: Record<string, string> = {
  signed_out: "You are signed out.",
  session_ended: "Your session ended; please sign in again.",
};

const STATIC: Record<string, string> = {
  "admin.js": "text/javascript; charset=utf-8",
  "admin.css": "text/css; charset=utf-8",
  "widgets.css": "text/css; charset=utf-8",
  "phone.css": "text/css; charset=utf-8",
  "favicon.svg": "image/svg+xml",
};
const staticCache = new Map<string, Uint8Array>();

async function staticFile(name: string): Promise<Uint8Array> {
  let body = staticCache.get(name);
  if (!body) {
    // Relative to this module, never the cwd, so the compiled binary finds its --include copy.
    body = await Deno.readFile(new URL(`./static/${name}`, import.meta.url));
    staticCache.set(name, body);
  }
  return body;
}

export function adminRoutes(deps: AdminDeps): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use("*", async (c, next) => {
    await next();
    c.header("Content-Security-Policy", CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "same-origin");
    if (!c.req.path.startsWith("/admin/static/")) c.header("Cache-Control", "no-store");
  });

  const query = (url: string) => Object.fromEntries(new URL(url).searchParams);
  r.get("/", (c) => c.redirect("/admin/submissions"));
  r.get("/*", async (c, next) => {
    // `/admin/` and `/admin/status/`: the same page as without the slash.
    if (c.req.path.endsWith("/")) {
      return c.redirect(c.req.path.replace(/\/+$/, ""));
    }
    await next();
  });
  r.get("/login", (c) => {
    const code = c.req.query("message") ?? "";
    const message = Object.hasOwn(LOGIN_MESSAGES, code) ? LOGIN_MESSAGES[code] : undefined;
    // A password typed on a plain-HTTP page elsewhere than this machine crosses the network
    // in clear: say so on the page where it is typed.
    const insecure = !cameOverHttps(c) &&
      !isLoopbackHost(c.req.header("host") ?? new URL(c.req.url).host);
    return c.html(LoginPage({ message, insecure }));
  });
  r.get("/submissions", (c) => {
    const destinations = Object.keys(destinationsOf(deps.config));
    return c.html(SubmissionsPage({ q: query(c.req.url), destinations }));
  });
  r.get("/submissions/:id", (c) => c.html(SubmissionPage({ id: c.req.param("id") })));
  r.get("/mappings", (c) => c.html(MappingsPage({ q: query(c.req.url) })));
  r.get("/mappings/new", (c) => c.html(MappingEditPage({})));
  r.get("/mappings/:uid", (c) => c.html(MappingEditPage({ uid: c.req.param("uid") })));
  r.get("/users", (c) => c.html(UsersPage({ q: query(c.req.url) })));
  r.get("/users/:uid", (c) => c.html(UserEditPage({ uid: c.req.param("uid") })));
  r.get("/users/:uid/tokens", (c) => c.html(UserTokensPage({ uid: c.req.param("uid") })));
  r.get("/status", (c) => c.html(StatusPage()));
  r.get("/account", (c) => c.html(AccountPage()));
  r.get("/requests", (c) => c.html(RequestsPage({ q: query(c.req.url) })));
  r.get("/audit", (c) => c.html(AuditPage({ q: query(c.req.url) })));

  r.get("/static/:file", async (c) => {
    const file = c.req.param("file");
    const type = STATIC[file];
    if (!type) throw new AppError("not_found", `no such asset ${file}`);
    c.header("Content-Type", type);
    // The pages link assets with ?v=<version>, so a new release is fetched at once.
    c.header("Cache-Control", "public, max-age=3600");
    return c.body((await staticFile(file)) as Uint8Array<ArrayBuffer>);
  });

  r.route("/session", sessionRoutes(deps));
  r.route("/f", fragmentRoutes(deps));
  return r;
}
