/**
 * An admin's changes to one user (/admin/users/:uid): role, source, a new password (with or
 * without keeping the user's API tokens), deactivate or reactivate. Over PUT /api/v3/users/{uid},
 * so the API's rules (never the last active admin, password strength) are the console's.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { z } from "@hono/zod-openapi";
import { ROLES } from "../auth/principal.ts";
import type { UserSchema } from "../auth/schemas.ts";
import type { AppEnv } from "../http/env.ts";
import { must } from "./api.ts";
import { ErrorAlert, FormField, Report } from "./components.tsx";
import type { FragmentContext } from "./context.ts";
import { Layout, Slot } from "./layout.tsx";

type User = z.infer<typeof UserSchema>;
type C = Context<AppEnv>;

export function UserEditPage(props: { uid: string }) {
  return (
    <Layout title="Edit user" current="/admin/users">
      <p>
        <a href="/admin/users">← All users</a>
      </p>
      <div data-report tabindex={-1} hidden></div>
      <Slot src={`/admin/f/users/${encodeURIComponent(props.uid)}/edit`} label="User" />
    </Layout>
  );
}

export function userEditFragments(ctx: FragmentContext): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get("/:uid/edit", (c) => editForm(ctx, c))
    .post("/:uid/edit", (c) => saveUser(ctx, c));
}

async function editForm(ctx: FragmentContext, c: C) {
  const uid = c.req.param("uid")!;
  const u = must(await ctx.api(c).get<User>(`/users/${encodeURIComponent(uid)}`));
  if (!ctx.isAdmin(c)) return c.html(<p class="alert">Changing users needs the admin role.</p>);
  return c.html(
    <form class="card" data-action={`/admin/f/users/${u.uid}/edit`} data-keep>
      <h1>{u.username}</h1>
      <p class="muted">
        {`${u.firstName} ${u.lastName}`.trim() || "No name"} ·{" "}
        {u.isActive ? "active" : "deactivated"}
      </p>
      <div class="grid">
        <FormField id="e-role" label="Role">
          <select id="e-role" name="role">
            {ROLES.map((r) => <option key={r} value={r} selected={r === u.role}>{r}</option>)}
          </select>
        </FormField>
        <FormField id="e-source" label="Source (mappings)">
          <input id="e-source" name="sourceName" value={u.sourceName} required />
        </FormField>
        <FormField id="e-active" label="Account">
          <select id="e-active" name="isActive">
            <option value="true" selected={u.isActive}>active</option>
            <option value="false" selected={!u.isActive}>deactivated</option>
          </select>
        </FormField>
        <FormField id="e-password" label="New password (leave empty to keep)">
          <input
            id="e-password"
            name="password"
            type="password"
            minlength={10}
            autocomplete="new-password"
          />
        </FormField>
        <label class="check">
          <input type="checkbox" name="keepApiTokens" value="true" checked />
          Keep the user's API tokens working after a new password
        </label>
        <div class="buttons">
          <button type="submit" class="primary">Save changes</button>
          <a href={`/admin/users/${u.uid}/tokens`}>API tokens</a>
        </div>
      </div>
    </form>,
  );
}

async function saveUser(ctx: FragmentContext, c: C) {
  const uid = c.req.param("uid")!;
  const form = await c.req.parseBody();
  const str = (k: string) => (typeof form[k] === "string" ? (form[k] as string) : "");
  const body: Record<string, unknown> = {
    role: str("role"),
    sourceName: str("sourceName").trim(),
    isActive: str("isActive") === "true",
  };
  // Not trimmed: a passphrase may begin or end with a space.
  if (str("password") !== "") {
    body.password = str("password");
    body.keepApiTokens = str("keepApiTokens") === "true";
  }
  const res = await ctx.api(c).send<User & { revokedApiTokens?: number }>(
    "PUT",
    `/users/${encodeURIComponent(uid)}`,
    body,
  );
  if (!res.ok) return c.html(<ErrorAlert title="Not saved" {...res} />, res.status as 400);
  const u = res.data;
  return c.html(
    <Report kind="ok">
      Saved <strong>{u.username}</strong>: role {u.role}, source {u.sourceName},{" "}
      {u.isActive ? "active" : "deactivated"}
      {body.password !== undefined &&
        `; new password set${
          u.revokedApiTokens ? `, ${u.revokedApiTokens} API token(s) revoked` : ""
        }`}.
    </Report>,
  );
}
