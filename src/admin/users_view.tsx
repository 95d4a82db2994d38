/** Users and their API tokens (fragments under /admin/f/users), over /api/v2/users. */
import { Hono } from "hono";
import type { AppEnv } from "../http/env.ts";
import { must } from "./api.ts";
import { ErrorAlert, type Page, Pager, Report, Time } from "./components.tsx";
import type { FragmentContext } from "./fragments.ts";

interface User {
  uid: string;
  username: string;
  firstName: string;
  lastName: string;
  email: string | null;
  role: string;
  isActive: boolean;
  sourceName: string;
  lastLogin: string | null;
  created: string;
}

interface ApiToken {
  id: number;
  name: string;
  prefix: string;
  sourceName: string | null;
  created: string;
  lastUsed: string | null;
  expires: string | null;
  revoked: string | null;
}

const LIST_KEYS = ["username", "role", "is_active", "page"];

const text = (v: unknown) => (typeof v === "string" ? v.trim() : "");

export function userFragments(ctx: FragmentContext): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const tz = ctx.config.server.timezone;

  r.get("/list", async (c) => {
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
    const me = c.get("principal")!.uid;
    return c.html(
      <div>
        <table>
          <caption class="muted">Users ({page.total})</caption>
          <thead>
            <tr>
              <th scope="col">Username</th>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Source</th>
              <th scope="col">Active</th>
              <th scope="col">Last sign-in</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {page.items.map((u) => (
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
                    <a href={`/admin/users/${u.uid}/tokens`}>API tokens</a>
                    {u.isActive && u.uid !== me && (
                      <button
                        type="button"
                        data-action={`/admin/f/users/${u.uid}/deactivate`}
                        data-confirm={`Deactivate ${u.username}? All their sign-ins and API tokens stop working.`}
                      >
                        Deactivate
                      </button>
                    )}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager
          page={page.page}
          totalPages={page.total_pages}
          total={page.total}
          query={q}
          noun="users"
        />
      </div>,
    );
  });

  r.get("/new", (c) => {
    if (!ctx.isAdmin(c)) return c.html("");
    return c.html(
      <form class="card" data-action="/admin/f/users" data-target="[data-report]">
        <h2>New user</h2>
        <div class="grid">
          <div class="field">
            <label for="u-username">Username</label>
            <input id="u-username" name="username" required autocomplete="off" />
          </div>
          <div class="field">
            <label for="u-password">Password (10+ characters)</label>
            <input
              id="u-password"
              name="password"
              type="password"
              required
              minlength={10}
              autocomplete="new-password"
            />
          </div>
          <div class="field">
            <label for="u-role">Role</label>
            <select id="u-role" name="role">
              <option value="submitter">submitter</option>
              <option value="viewer">viewer</option>
              <option value="admin">admin</option>
            </select>
          </div>
          <div class="field">
            <label for="u-firstName">First name</label>
            <input id="u-firstName" name="firstName" />
          </div>
          <div class="field">
            <label for="u-lastName">Last name</label>
            <input id="u-lastName" name="lastName" />
          </div>
          <div class="field">
            <label for="u-email">Email</label>
            <input id="u-email" name="email" type="email" />
          </div>
          <div class="field">
            <label for="u-telephone">Telephone</label>
            <input id="u-telephone" name="telephone" />
          </div>
          <div class="field">
            <label for="u-sourceName">Source (mappings)</label>
            <input id="u-sourceName" name="sourceName" placeholder="default" />
          </div>
          <div class="buttons">
            <button type="submit" class="primary">Create user</button>
          </div>
        </div>
      </form>,
    );
  });

  r.post("/", async (c) => {
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
  });

  r.post("/:uid/deactivate", async (c) => {
    const res = await ctx.api(c).send<User>("DELETE", `/users/${c.req.param("uid")}`);
    if (!res.ok) return c.html(<ErrorAlert title="Not deactivated" {...res} />, res.status as 400);
    return c.html(
      <Report kind="ok">
        Deactivated{" "}
        <strong>{res.data.username}</strong>: their sign-ins and API tokens no longer work.
      </Report>,
    );
  });

  r.get("/:uid/tokens", async (c) => {
    const uid = c.req.param("uid");
    const api = ctx.api(c);
    const user = must(await api.get<User>(`/users/${uid}`));
    const tokens = must(await api.get<{ items: ApiToken[] }>(`/users/${uid}/tokens`));
    const admin = ctx.isAdmin(c);
    return c.html(
      <div>
        <h1>API tokens of {user.username}</h1>
        <p class="muted">
          Machine clients send{" "}
          <code>Authorization: Token &lt;token&gt;</code>. The secret is shown once, when the token
          is made; only its prefix is kept in view.
        </p>
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Prefix</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Expires</th>
              <th scope="col">State</th>
              {admin && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {tokens.items.length === 0 && (
              <tr>
                <td colspan={7} class="muted">No API tokens.</td>
              </tr>
            )}
            {tokens.items.map((t) => (
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
                      <button
                        type="button"
                        data-action={`/admin/f/users/${uid}/tokens/${t.id}/revoke`}
                        data-confirm={`Revoke the token "${t.name}"? Clients using it stop working at once.`}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {admin && (
          <form
            class="card"
            data-action={`/admin/f/users/${uid}/tokens`}
            data-target="[data-report]"
          >
            <h2>New API token</h2>
            <div class="grid">
              <div class="field">
                <label for="u-name">Name</label>
                <input id="u-name" name="name" required placeholder="e.g. HMIS bridge" />
              </div>
              <div class="field">
                <label for="u-expires">Expires (optional)</label>
                <input id="u-expires" name="expires" type="date" />
              </div>
              <div class="field">
                <label for="u-current">Your password (if you signed in over 5 minutes ago)</label>
                <input
                  id="u-current"
                  name="currentPassword"
                  type="password"
                  autocomplete="current-password"
                />
              </div>
              <div class="buttons">
                <button type="submit" class="primary">Create token</button>
              </div>
            </div>
          </form>
        )}
      </div>,
    );
  });

  r.post("/:uid/tokens", async (c) => {
    const uid = c.req.param("uid");
    const form = await c.req.parseBody();
    const body: Record<string, string> = { name: text(form.name) };
    if (text(form.expires)) body.expires = `${text(form.expires)}T23:59:59Z`;
    // Not trimmed: a passphrase may end in a space.
    if (typeof form.currentPassword === "string" && form.currentPassword !== "") {
      body.currentPassword = form.currentPassword;
    }
    const res = await ctx.api(c).send<ApiToken & { token: string }>(
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
  });

  r.post("/:uid/tokens/:id/revoke", async (c) => {
    const { uid, id } = c.req.param();
    const res = await ctx.api(c).send<ApiToken>("DELETE", `/users/${uid}/tokens/${id}`);
    if (!res.ok) return c.html(<ErrorAlert title="Not revoked" {...res} />, res.status as 400);
    return c.html(<Report kind="ok">Revoked the token "{res.data.name}".</Report>);
  });

  return r;
}
