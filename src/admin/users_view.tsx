/** Users and their API tokens (fragments under /admin/f/users), over /api/v3/users. */
import { Hono } from "hono";
import type { Context } from "hono";
import type { z } from "@hono/zod-openapi";
import { DEFAULT_ROLE, ROLES } from "../auth/principal.ts";
import type {
  ApiTokenSchema,
  ListUsersQuery,
  NewApiTokenSchema,
  UserSchema,
} from "../auth/schemas.ts";
import type { AppEnv } from "../http/env.ts";
import { must } from "./api.ts";
import {
  ActionButton,
  ErrorAlert,
  FormField,
  type Page,
  Pager,
  Report,
  Table,
  Time,
} from "./components.tsx";
import type { FragmentContext } from "./context.ts";

type User = z.infer<typeof UserSchema>;
type ApiToken = z.infer<typeof ApiTokenSchema>;
type C = Context<AppEnv>;

/** The filters the Users page offers, and its page: some of GET /api/v3/users's. */
const LIST_KEYS = ["username", "role", "is_active", "page"] as const satisfies readonly (
  keyof z.infer<typeof ListUsersQuery>
)[];

const text = (v: unknown) => (typeof v === "string" ? v.trim() : "");

export function userFragments(ctx: FragmentContext): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get("/list", (c) => userList(ctx, c))
    .get("/new", (c) => newUserForm(ctx, c))
    .post("/", (c) => createUser(ctx, c))
    .post("/:uid/deactivate", (c) => deactivateUser(ctx, c))
    .get("/:uid/tokens", (c) => tokenList(ctx, c))
    .post("/:uid/tokens", (c) => createToken(ctx, c))
    .post("/:uid/tokens/:id/revoke", (c) => revokeToken(ctx, c));
}

async function userList(ctx: FragmentContext, c: C) {
  if (!ctx.isAdmin(c)) {
    return c.html(
      <p class="alert">
        Managing users needs the admin role. You are signed in as a viewer.
      </p>,
    );
  }
  const q = new URLSearchParams();
  for (const k of LIST_KEYS) {
    const v = c.req.query(k);
    if (v) q.set(k, v);
  }
  q.set("page_size", "50");
  const page = must(await ctx.api(c).get<Page<User>>("/users", q));
  q.delete("page_size");
  return c.html(
    <div>
      <UserTable
        users={page}
        me={c.get("principal")!.uid}
        tz={ctx.config.server.timezone}
      />
      <Pager
        page={page.page}
        totalPages={page.total_pages}
        total={page.total}
        query={q}
        noun="users"
      />
    </div>,
  );
}

function UserTable(props: { users: Page<User>; me: string; tz: string }) {
  const { me, tz } = props;
  return (
    <Table
      caption={`Users (${props.users.total})`}
      columns={["Username", "Name", "Role", "Source", "Active", "Last sign-in", "Actions"]}
      rows={props.users.items}
      row={(u) => (
        <tr>
          <td>
            <strong>{u.username}</strong>
            <div class="muted mono">{u.uid}</div>
          </td>
          <td>{`${u.firstName} ${u.lastName}`.trim() || "–"}</td>
          <td>{u.role}</td>
          <td>{u.sourceName}</td>
          <td>{u.isActive ? "yes" : <span class="badge s-dead">deactivated</span>}</td>
          <td>
            <Time value={u.lastLogin} tz={tz} />
          </td>
          <td>
            <div class="buttons">
              <a href={`/admin/users/${u.uid}`} aria-label={`Edit ${u.username}`}>Edit</a>
              <a href={`/admin/users/${u.uid}/tokens`}>API tokens</a>
              {u.isActive && u.uid !== me && (
                <ActionButton
                  action={`/admin/f/users/${u.uid}/deactivate`}
                  confirm={`Deactivate ${u.username}? All their sign-ins and API tokens stop working.`}
                >
                  Deactivate
                </ActionButton>
              )}
            </div>
          </td>
        </tr>
      )}
    />
  );
}

const option = (value: string) => <option value={value}>{value}</option>;

function newUserForm(ctx: FragmentContext, c: C) {
  if (!ctx.isAdmin(c)) return c.html("");
  // The default first, so the select starts on it.
  const roles = [DEFAULT_ROLE, ...ROLES.filter((r) => r !== DEFAULT_ROLE)];
  return c.html(
    <form class="card" data-action="/admin/f/users" data-target="[data-report]">
      <h2>New user</h2>
      <div class="grid">
        <FormField id="u-username" label="Username">
          <input id="u-username" name="username" required autocomplete="off" />
        </FormField>
        <FormField id="u-password" label="Password (10+ characters)">
          <input
            id="u-password"
            name="password"
            type="password"
            required
            minlength={10}
            autocomplete="new-password"
          />
        </FormField>
        <FormField id="u-role" label="Role">
          <select id="u-role" name="role">
            {roles.map(option)}
          </select>
        </FormField>
        <FormField id="u-firstName" label="First name">
          <input id="u-firstName" name="firstName" />
        </FormField>
        <FormField id="u-lastName" label="Last name">
          <input id="u-lastName" name="lastName" />
        </FormField>
        <FormField id="u-email" label="Email">
          <input id="u-email" name="email" type="email" />
        </FormField>
        <FormField id="u-telephone" label="Telephone">
          <input id="u-telephone" name="telephone" />
        </FormField>
        <FormField id="u-sourceName" label="Source (mappings)">
          <input id="u-sourceName" name="sourceName" placeholder="default" />
        </FormField>
        <div class="buttons">
          <button type="submit" class="primary">Create user</button>
        </div>
      </div>
    </form>,
  );
}

async function createUser(ctx: FragmentContext, c: C) {
  const form = await c.req.parseBody();
  const body: Record<string, string> = {};
  for (const k of ["username", "password", "role", "firstName", "lastName", "email"]) {
    if (text(form[k])) body[k] = k === "password" ? String(form[k]) : text(form[k]);
  }
  for (const k of ["telephone", "sourceName"]) if (text(form[k])) body[k] = text(form[k]);
  const res = await ctx.api(c).send<User>("POST", "/users", body);
  if (!res.ok) return c.html(<ErrorAlert title="User not created" {...res} />, res.status as 400);
  return c.html(
    <Report kind="ok">
      Created user <strong>{res.data.username}</strong> with role {res.data.role}.{" "}
      <a href={`/admin/users/${res.data.uid}/tokens`}>Give it an API token</a>.
    </Report>,
  );
}

async function deactivateUser(ctx: FragmentContext, c: C) {
  const res = await ctx.api(c).send<User>("DELETE", `/users/${c.req.param("uid")}`);
  if (!res.ok) return c.html(<ErrorAlert title="Not deactivated" {...res} />, res.status as 400);
  return c.html(
    <Report kind="ok">
      Deactivated{" "}
      <strong>{res.data.username}</strong>: their sign-ins and API tokens no longer work.
    </Report>,
  );
}

async function tokenList(ctx: FragmentContext, c: C) {
  const uid = c.req.param("uid")!;
  const api = ctx.api(c);
  const user = must(await api.get<User>(`/users/${uid}`));
  const tokens = must(await api.get<{ items: ApiToken[] }>(`/users/${uid}/tokens`));
  // An admin, or the user about their own tokens (the API allows both).
  const admin = ctx.isAdmin(c) || c.get("principal")!.uid === uid;
  return c.html(
    <div>
      <h1>API tokens of {user.username}</h1>
      <p class="muted">
        Machine clients send the token as it is shown, in{" "}
        <code>Authorization: Token &lt;token&gt;</code> (the word <code>Token</code>{" "}
        may be left out). The secret is shown once, when the token is made; only its prefix is kept
        in view.
      </p>
      <TokenTable uid={uid} tokens={tokens.items} admin={admin} tz={ctx.config.server.timezone} />
      {admin && <NewTokenForm uid={uid} />}
    </div>,
  );
}

function TokenTable(props: { uid: string; tokens: ApiToken[]; admin: boolean; tz: string }) {
  const { uid, admin, tz } = props;
  return (
    <Table
      columns={["Name", "Prefix", "Created", "Last used", "Expires", "State", admin && "Actions"]}
      rows={props.tokens}
      empty={{ text: "No API tokens.", span: 7 }}
      row={(t) => (
        <tr>
          <td>{t.name}</td>
          <td class="mono">{t.prefix}</td>
          <td>
            <Time value={t.created} tz={tz} />
          </td>
          <td>
            <Time value={t.lastUsed} tz={tz} />
          </td>
          <td>{t.expires ? <Time value={t.expires} tz={tz} /> : "never"}</td>
          <td>
            {t.revoked
              ? <span class="badge s-dead">revoked</span>
              : <span class="badge s-delivered">active</span>}
          </td>
          {admin && (
            <td>
              {!t.revoked && (
                <ActionButton
                  action={`/admin/f/users/${uid}/tokens/${t.id}/revoke`}
                  confirm={`Revoke the token "${t.name}"? Clients using it stop working at once.`}
                >
                  Revoke
                </ActionButton>
              )}
            </td>
          )}
        </tr>
      )}
    />
  );
}

function NewTokenForm(props: { uid: string }) {
  return (
    <form
      class="card"
      data-action={`/admin/f/users/${props.uid}/tokens`}
      data-target="[data-report]"
    >
      <h2>New API token</h2>
      <div class="grid">
        <FormField id="u-name" label="Name">
          <input id="u-name" name="name" required placeholder="e.g. HMIS bridge" />
        </FormField>
        <FormField id="u-expires" label="Expires (optional)">
          <input id="u-expires" name="expires" type="date" />
        </FormField>
        <FormField id="u-current" label="Your password (if you signed in over 5 minutes ago)">
          <input
            id="u-current"
            name="currentPassword"
            type="password"
            autocomplete="current-password"
          />
        </FormField>
        <div class="buttons">
          <button type="submit" class="primary">Create token</button>
        </div>
      </div>
    </form>
  );
}

async function createToken(ctx: FragmentContext, c: C) {
  const uid = c.req.param("uid");
  const form = await c.req.parseBody();
  const body: Record<string, string> = { name: text(form.name) };
  if (text(form.expires)) body.expires = `${text(form.expires)}T23:59:59Z`;
  // Not trimmed: a passphrase may end in a space.
  if (typeof form.currentPassword === "string" && form.currentPassword !== "") {
    body.currentPassword = form.currentPassword;
  }
  const res = await ctx.api(c).send<z.infer<typeof NewApiTokenSchema>>(
    "POST",
    `/users/${uid}/tokens`,
    body,
  );
  if (!res.ok) {
    return c.html(<ErrorAlert title="Token not created" {...res} />, res.status as 400);
  }
  return c.html(
    <Report kind="warn">
      <strong>Copy this token now; it will not be shown again.</strong>
      <code class="secret" id="new-token-secret">{res.data.token}</code>
      <span class="buttons">
        <button type="button" data-copy="#new-token-secret">Copy</button>
        <a href={`/admin/users/${uid}/tokens`}>Done, show the list</a>
      </span>
    </Report>,
  );
}

async function revokeToken(ctx: FragmentContext, c: C) {
  const { uid, id } = c.req.param() as { uid: string; id: string };
  const res = await ctx.api(c).send<ApiToken>("DELETE", `/users/${uid}/tokens/${id}`);
  if (!res.ok) return c.html(<ErrorAlert title="Not revoked" {...res} />, res.status as 400);
  return c.html(<Report kind="ok">Revoked the token "{res.data.name}".</Report>);
}
