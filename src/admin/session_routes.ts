/**
 * `/admin/session`: sign in (POST, JSON {username, password}), who am I and the CSRF token
 * (GET), sign out (DELETE). JSON in the API's error envelope, for the console's script.
 */
import { Hono } from "hono";
import type { AppEnv } from "../http/env.ts";
import { AppError } from "../http/errors.ts";
import type { AdminDeps } from "./context.ts";
import { checkOrigin, ConsoleSessions, csrfOf } from "./session.ts";

/** `localhost`, 127.0.0.0/8 or [::1], with or without a port. */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/:\d+$/, "").toLowerCase();
  return name === "localhost" || name === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

export function consoleSessions(deps: AdminDeps): ConsoleSessions | undefined {
  return deps.auth && deps.sql ? new ConsoleSessions(deps.sql, deps.auth, deps.config) : undefined;
}

export function sessionRoutes(deps: AdminDeps, sessions = consoleSessions(deps)): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const need = (): ConsoleSessions => {
    if (!sessions) throw new AppError("unauthorized", "this server has no authentication");
    return sessions;
  };
  r.post("/", async (c) => {
    // Login CSRF: another site must not sign this browser in as someone else.
    checkOrigin(c);
    const body = await c.req.json().catch(() => null) as Record<string, unknown> | null;
    if (typeof body?.username !== "string" || typeof body?.password !== "string") {
      throw new AppError("validation_failed", "send {username, password}");
    }
    const { user, csrf } = await need().signIn(c, body.username, body.password);
    return c.json({ username: user.username, uid: user.uid, role: user.role, csrf }, 201);
  });
  r.get("/", async (c) => {
    const s = await need().resolve(c);
    if (!s) throw new AppError("unauthorized", "not signed in");
    const { username, uid, role } = s.user;
    return c.json({ username, uid, role, csrf: csrfOf(s.token) });
  });
  r.delete("/", async (c) => {
    checkOrigin(c);
    const s = await need().resolve(c);
    if (s && c.req.header("x-csrf-token") !== csrfOf(s.token)) {
      throw new AppError("forbidden", "missing or wrong CSRF token; reload the page");
    }
    await need().signOut(c);
    return c.json({ message: "Signed out" });
  });
  return r;
}
