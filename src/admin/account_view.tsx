/**
 * "My account" (/admin/account): who is signed in, change my password, and a link to my API
 * tokens. For every role: a submitting system's person manages its own tokens here.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../http/env.ts";
import { Card, ErrorAlert, FormField, Report } from "./components.tsx";
import type { FragmentContext } from "./context.ts";
import { Layout, Slot } from "./layout.tsx";

type C = Context<AppEnv>;

export function AccountPage() {
  return (
    <Layout title="My account" current="/admin/account">
      <h1>My account</h1>
      <div data-report tabindex={-1} hidden></div>
      <Slot src="/admin/f/account" label="My account" refresh={false} />
    </Layout>
  );
}

export function accountFragments(ctx: FragmentContext): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get("/", (c) => account(c))
    .post("/password", (c) => changePassword(ctx, c));
}

function account(c: C) {
  const me = c.get("principal")!;
  return c.html(
    <div>
      <Card id="me" title="Signed in">
        <p>
          <strong>{me.username}</strong> · role {me.role} · source {me.sourceName}
        </p>
        <p>
          <a href={`/admin/users/${me.uid}/tokens`}>My API tokens</a>
        </p>
      </Card>
      <form
        class="card"
        data-action="/admin/f/account/password"
        data-target="[data-report]"
        data-after="none"
      >
        <h2>Change my password</h2>
        <div class="grid">
          <FormField id="a-current" label="Current password">
            <input
              id="a-current"
              name="currentPassword"
              type="password"
              autocomplete="current-password"
              required
            />
          </FormField>
          <FormField id="a-new" label="New password">
            <input
              id="a-new"
              name="password"
              type="password"
              autocomplete="new-password"
              required
            />
          </FormField>
          <FormField id="a-again" label="New password again">
            <input id="a-again" name="again" type="password" autocomplete="new-password" required />
          </FormField>
          <div class="buttons">
            <button type="submit" class="primary">Change password</button>
          </div>
        </div>
        <p class="muted">
          Your other sign-ins end; this browser stays signed in.{" "}
          {me.role === "admin"
            ? "Your API tokens keep working."
            : "Your API tokens are revoked with it (a new password is often the answer to a leak); make new ones afterwards."}
        </p>
      </form>
    </div>,
  );
}

async function changePassword(ctx: FragmentContext, c: C) {
  const me = c.get("principal")!;
  const form = await c.req.parseBody();
  // Not trimmed: a passphrase may begin or end with a space.
  const field = (k: string) => (typeof form[k] === "string" ? form[k] as string : "");
  if (field("password") !== field("again")) {
    return c.html(
      <Report kind="error">The two new passwords differ; nothing was changed.</Report>,
      422,
    );
  }
  const res = await ctx.api(c).send<{ revokedApiTokens?: number }>("PUT", `/users/${me.uid}`, {
    password: field("password"),
    currentPassword: field("currentPassword"),
    // Only an admin may keep them (the API's rule); a submitter's go with the old password.
    ...(me.role === "admin" ? { keepApiTokens: true } : {}),
  });
  if (!res.ok) {
    return c.html(<ErrorAlert title="Password not changed" {...res} />, res.status as 400);
  }
  // The change ended every session of this user, this one too: start a new one here.
  await ctx.sessions?.signIn(c, me.username, field("password"));
  c.header("X-Console-Session", "renewed");
  return c.html(
    <Report kind="ok">
      Your password was changed. Other browsers and apps signed in as {me.username}{" "}
      must sign in again.{res.data.revokedApiTokens
        ? ` ${res.data.revokedApiTokens} API token(s) were revoked.`
        : ""}
    </Report>,
  );
}
