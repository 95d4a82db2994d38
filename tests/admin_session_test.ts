/**
 * The console's sign-in cookie: HttpOnly, SameSite=Strict, Secure when the request came over
 * HTTPS (here: from a trusted proxy that says so); writes need the CSRF token and a same-site
 * Origin; a password change ends other sessions; /api/v3 never takes the cookie; the sign-in
 * page warns on plain HTTP away from loopback.
 */
import assert from "node:assert/strict";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest("console session cookie, CSRF, Secure over HTTPS, and the plain-HTTP warning", async () => {
  const db = await createTestDb("admin_session");
  const t = await createTestApp(db);
  try {
    const { admin, viewer } = t.users;
    const host = { Host: "gw.example.org" };
    const signIn = (user: { username: string; password: string }, headers = {}) =>
      t.app.request("/admin/session", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...host, ...headers },
        body: JSON.stringify({ username: user.username, password: user.password }),
      });

    const res = await signIn(admin);
    assert.equal(res.status, 201);
    const { csrf, role } = await res.json();
    assert.equal(role, "admin");
    const set = res.headers.get("set-cookie")!;
    assert.match(
      set,
      /^dhis2gw_console=[\w-]{43}; Max-Age=604800; Path=\/admin; HttpOnly; SameSite=Strict$/,
    );
    const cookie = { Cookie: set.split(";")[0], ...host };

    // Behind a trusted proxy (in-process requests count as from one) that ended TLS: Secure.
    const https = await signIn(viewer, { "X-Forwarded-Proto": "https" });
    assert.match(https.headers.get("set-cookie")!, /; Secure(;|$)/);

    // The cookie reads fragments; /api/v3 ignores it (API clients send headers).
    assert.equal((await t.app.request("/admin/f/status", { headers: cookie })).status, 200);
    const api = await t.app.request("/api/v3/logs", { headers: cookie });
    assert.equal(api.status, 401);
    await api.body?.cancel();
    const who = await (await t.app.request("/admin/session", { headers: cookie })).json();
    assert.deepEqual([who.username, who.csrf], [admin.username, csrf]);

    // Writes: no token, a wrong one, or another site's Origin are refused before anything runs.
    const purge = (headers: Record<string, string>) =>
      t.app.request("/admin/f/submissions/purge", {
        method: "POST",
        headers: { ...cookie, ...headers },
        body: new URLSearchParams({ date: "2020-01-01" }),
      });
    assert.equal((await purge({})).status, 403);
    assert.equal((await purge({ "X-CSRF-Token": "x".repeat(64) })).status, 403);
    assert.equal(
      (await purge({ "X-CSRF-Token": csrf, Origin: "https://evil.example" })).status,
      403,
    );
    const ok = await purge({ "X-CSRF-Token": csrf, Origin: "https://gw.example.org" });
    assert.equal(ok.status, 200, await ok.text());
    // Login CSRF: another site cannot sign this browser in.
    assert.equal((await signIn(admin, { Origin: "https://evil.example" })).status, 403);

    // A new password (set by another session) ends this one.
    const changed = await t.app.request(`/api/v3/users/${admin.uid}`, {
      method: "PUT",
      headers: { ...admin.headers.basic, "Content-Type": "application/json" },
      body: JSON.stringify({
        password: `pw-${crypto.randomUUID()}`,
        currentPassword: admin.password,
        keepApiTokens: true,
      }),
    });
    assert.equal(changed.status, 200);
    await changed.body?.cancel();
    assert.equal((await t.app.request("/admin/f/status", { headers: cookie })).status, 401);

    // Sign-out forgets the session on the server, whatever the browser keeps.
    const v = await signIn(viewer);
    const vCookie = { Cookie: v.headers.get("set-cookie")!.split(";")[0], ...host };
    const vCsrf = (await v.json()).csrf;
    const out = await t.app.request("/admin/session", {
      method: "DELETE",
      headers: { ...vCookie, "X-CSRF-Token": vCsrf },
    });
    assert.match(out.headers.get("set-cookie")!, /Max-Age=0/);
    assert.equal((await t.app.request("/admin/f/status", { headers: vCookie })).status, 401);

    // The sign-in page warns on plain HTTP away from loopback, not on loopback or HTTPS.
    const login = async (headers: Record<string, string>) =>
      (await (await t.app.request("/admin/login", { headers })).text()).includes("data-insecure");
    assert.equal(await login({ Host: "gw.example.org" }), true);
    assert.equal(await login({ Host: "127.0.0.1:8080" }), false);
    assert.equal(await login({ Host: "gw.example.org", "X-Forwarded-Proto": "https" }), false);
  } finally {
    await t.close();
    await db.close();
  }
});
