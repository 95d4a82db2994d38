/**
 * The console's page frame. Pages are public shells: they carry no data and no write action.
 * Data and every write control arrive as fragments that `static/admin.js` fetches with the
 * signed-in user's token, rendered on the server for that user's role (fragments.tsx).
 */
import type { Child } from "hono/jsx";
import { VERSION } from "../version.ts";

/** `roles`: who sees the link (all when absent); the script hides the others'. */
export const NAV: { href: string; label: string; adminOnly?: boolean; roles?: string }[] = [
  { href: "/admin/submissions", label: "Submissions" },
  { href: "/admin/requests", label: "Refused requests", roles: "admin viewer" },
  { href: "/admin/mappings", label: "Mappings", roles: "admin viewer" },
  { href: "/admin/users", label: "Users", adminOnly: true },
  { href: "/admin/audit", label: "Audit", adminOnly: true },
  { href: "/admin/status", label: "Status", roles: "admin viewer" },
  { href: "/admin/account", label: "My account" },
];

export function Layout(
  props: { title: string; current?: string; signedIn?: boolean; children?: Child },
) {
  const signedIn = props.signedIn ?? true;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · dhis2gw`}</title>
        <link rel="stylesheet" href={`/admin/static/admin.css?v=${VERSION}`} />
        <link rel="stylesheet" href={`/admin/static/widgets.css?v=${VERSION}`} />
        <link rel="stylesheet" href={`/admin/static/phone.css?v=${VERSION}`} />
        <link rel="icon" href="/admin/static/favicon.svg" type="image/svg+xml" />
        <script type="module" src={`/admin/static/admin.js?v=${VERSION}`}></script>
      </head>
      <body data-auth={signedIn ? "required" : "none"}>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <a class="brand" href="/admin">dhis2gw</a>
          {signedIn && (
            // Below 760 px the links fold behind this button (admin.css); the script opens it.
            <button
              type="button"
              class="menu"
              aria-expanded="false"
              aria-controls="console-nav"
              data-menu
            >
              Menu
            </button>
          )}
          {signedIn && (
            <nav aria-label="Console" id="console-nav">
              <ul>
                {NAV.map((n) => (
                  <li data-admin-only={n.adminOnly ? "" : undefined} data-roles={n.roles}>
                    <a
                      href={n.href}
                      aria-current={props.current === n.href ? "page" : undefined}
                    >
                      {n.label}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
          )}
          {signedIn && (
            <div class="who">
              <span data-whoami></span>
              <button type="button" class="link" data-signout>Sign out</button>
            </div>
          )}
        </header>
        <main id="main" tabindex={-1}>
          <noscript>
            <p class="alert error">
              The console needs JavaScript: each page loads its data with your sign-in.
            </p>
          </noscript>
          {signedIn && (
            // Filled while a DHIS2 destination is down or refusing us (health_view.tsx).
            <div class="banner-slot" data-fragment="/admin/f/health" data-poll="30"></div>
          )}
          {props.children}
        </main>
        <div class="toast" role="status" aria-live="polite" data-toast></div>
        <dialog data-confirm-dialog aria-labelledby="confirm-title">
          <form method="dialog">
            <h2 id="confirm-title">Please confirm</h2>
            <p data-confirm-text></p>
            <div class="buttons">
              <button value="cancel" type="submit" class="secondary">Cancel</button>
              <button value="ok" type="submit" class="primary" data-confirm-ok>Confirm</button>
            </div>
          </form>
        </dialog>
      </body>
    </html>
  );
}

/** A region the script fills with a fragment; `query` forwards the page's query string. */
export function Slot(
  props: {
    src: string;
    id?: string;
    label?: string;
    query?: boolean;
    refresh?: boolean;
    /** Reload every this many seconds while the tab is visible. */
    poll?: number;
  },
) {
  return (
    <section
      id={props.id}
      aria-label={props.label}
      aria-busy="true"
      data-fragment={props.src}
      data-query={props.query ? "page" : undefined}
      data-refresh={props.refresh === false ? undefined : "true"}
      data-poll={props.poll ? String(props.poll) : undefined}
    >
      <p class="muted">Loading…</p>
    </section>
  );
}
