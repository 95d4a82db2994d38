// dhis2gw console: the only script. Pages are server-rendered shells; this module signs in,
// and loads server-rendered fragments. The sign-in is an HttpOnly cookie this script never
// sees, shared by every tab of the browser; writes carry the CSRF token GET /admin/session
// gives. No framework, no build step, nothing from the network but this app.

const SESSION = "/admin/session";

// ---- session ---------------------------------------------------------------------------------

/** Who is signed in and the CSRF token, from GET /admin/session; null when signed out. */
let me = null;

async function whoAmI() {
  const res = await fetch(SESSION, { headers: { Accept: "application/json" } });
  me = res.ok ? await res.json() : null;
  return me;
}

/** Back to the sign-in page; `message` is one of the codes routes.ts knows. */
function forget(message) {
  me = null;
  const next = location.pathname + location.search;
  const q = new URLSearchParams({ next });
  if (message) q.set("message", message);
  location.assign(`/admin/login?${q}`);
}

/** Ends the session on the server (every tab of this browser), then shows the sign-in page. */
async function signOut() {
  try {
    await fetch(SESSION, { method: "DELETE", headers: { "X-CSRF-Token": me?.csrf ?? "" } });
  } catch { /* offline: the cookie expires on its own */ }
  location.assign("/admin/login?message=signed_out");
}

/**
 * fetch for fragments and actions: writes carry the CSRF token. A 401 means the session ended
 * (signed out in another tab, expired, password changed): back to the sign-in page.
 */
async function authFetch(url, init = {}) {
  const method = (init.method ?? "GET").toUpperCase();
  const headers = { ...init.headers };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = me?.csrf ?? "";
  const res = await fetch(url, { ...init, headers });
  if (res.status === 401) {
    forget("session_ended");
    throw new Error("signed out");
  }
  return res;
}

// ---- small UI helpers ------------------------------------------------------------------------

function toast(text) {
  const el = document.querySelector("[data-toast]");
  if (!el) return;
  el.textContent = text;
  el.classList.add("show");
  clearTimeout(el._t);
  el._t = setTimeout(() => el.classList.remove("show"), 4000);
}

function confirmDialog(text) {
  const dialog = document.querySelector("[data-confirm-dialog]");
  if (!dialog) return Promise.resolve(globalThis.confirm(text));
  dialog.querySelector("[data-confirm-text]").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  dialog.querySelector("[data-confirm-ok]").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

/** `{name}` in a confirmation text is replaced by that field of the form. */
function fillTemplate(text, form) {
  if (!form) return text;
  const data = new FormData(form);
  // `{name|fallback}` uses the fallback when the field is empty.
  return text.replace(/\{(\w+)(?:\|([^}]*))?\}/g, (_, k, fallback = "") => {
    if (k === "count") return String(form.querySelectorAll("input[name=id]:checked").length);
    return String(data.get(k) || fallback);
  });
}

// ---- fragments -------------------------------------------------------------------------------

async function loadFragment(el) {
  let url = el.dataset.fragment;
  if (el.dataset.query === "page" && location.search) url += location.search;
  el.setAttribute("aria-busy", "true");
  try {
    const res = await authFetch(url, { headers: { Accept: "text/html" } });
    el.innerHTML = await res.text();
  } catch (err) {
    if (err.message !== "signed out") {
      el.innerHTML = "";
      const p = document.createElement("p");
      p.className = "alert error";
      p.textContent = `Could not load this part of the page: ${err.message}`;
      el.append(p);
    }
  } finally {
    el.setAttribute("aria-busy", "false");
  }
}

/**
 * Fragments marked `data-poll="<seconds>"` reload themselves (the Status page, the DHIS2
 * banner), skipped while the tab is hidden and caught up when it shows again.
 */
function startPolling() {
  for (const el of document.querySelectorAll("[data-fragment][data-poll]")) {
    const ms = Number(el.dataset.poll) * 1000;
    if (!(ms > 0)) continue;
    let last = Date.now();
    const tick = () => {
      if (document.hidden || Date.now() - last < ms - 500) return;
      last = Date.now();
      loadFragment(el);
    };
    setInterval(tick, ms);
    document.addEventListener("visibilitychange", tick);
  }
}

/** All fragments, or only those marked `data-refresh` (after an action) or `data-query`. */
function loadFragments(which = "all") {
  const sel = which === "all" ? "[data-fragment]" : `[data-fragment][data-${which}]`;
  return Promise.all([...document.querySelectorAll(sel)].map(loadFragment));
}

/** Shows the URL's filters in the filter form (after a count link, Back or Forward). */
function syncFilterForm() {
  const form = document.querySelector("form[data-filter]");
  if (!form) return;
  const q = new URLSearchParams(location.search);
  for (const f of form.elements) if (f.name) f.value = q.get(f.name) ?? "";
}

function navigate(search) {
  history.pushState(null, "", `${location.pathname}${search}`);
  syncFilterForm();
  // Only what depends on the query: a report or a half-filled form elsewhere stays.
  return loadFragments("query");
}

function filterQuery(form) {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form)) {
    if (typeof v === "string" && v.trim() !== "") q.append(k, v.trim());
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

// ---- actions ---------------------------------------------------------------------------------

async function runAction(el, submitter) {
  const form = el instanceof HTMLFormElement ? el : el.form ?? null;
  const source = submitter ?? el;
  if (form && !form.reportValidity()) return;
  const confirmText = source.dataset.confirm ?? el.dataset.confirm;
  if (confirmText && !(await confirmDialog(fillTemplate(confirmText, form)))) return;

  let url = source.dataset.action ?? el.dataset.action;
  if ((source.dataset.withFilters ?? el.dataset.withFilters) !== undefined) url += location.search;
  const method = source.dataset.method ?? el.dataset.method ?? "POST";
  const body = form ? new FormData(form, submitter ?? undefined) : undefined;
  const targetSel = source.dataset.target ?? el.dataset.target ?? "[data-report]";
  const target = document.querySelector(targetSel);
  source.disabled = true;
  try {
    const res = await authFetch(url, { method, body, headers: { Accept: "text/html" } });
    const html = await res.text();
    if (target) {
      target.innerHTML = html;
      target.hidden = false;
      target.focus?.();
    }
    toast(res.ok ? "Done." : "That did not work; see the report.");
    if (res.ok && form && !form.hasAttribute("data-keep")) form.reset();
    // A new session (after a password change) comes with a new CSRF token.
    if (res.headers.get("x-console-session") === "renewed") await whoAmI();
    const after = source.dataset.after ?? el.dataset.after ?? "reload";
    if (res.ok && after.startsWith("go:")) location.assign(after.slice(3));
    else if (res.ok && after === "reload") await loadFragments("refresh");
  } finally {
    source.disabled = false;
  }
}

async function download(el) {
  let url = el.dataset.download;
  if (el.dataset.withFilters !== undefined) {
    const q = new URLSearchParams(location.search);
    q.delete("page");
    if (q.size) url += `?${q}`;
  }
  const res = await authFetch(url);
  if (!res.ok) {
    toast(`Download failed (HTTP ${res.status}).`);
    return;
  }
  const cd = res.headers.get("content-disposition") ?? "";
  const name = /filename="?([^";]+)"?/.exec(cd)?.[1] ?? el.dataset.filename ?? "download";
  const href = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement("a"), { href, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
  toast(`Downloaded ${name}.`);
}

// ---- sign in ---------------------------------------------------------------------------------

async function signIn(form) {
  const out = form.querySelector("[data-login-error]");
  const say = (text) => {
    out.textContent = text;
    out.hidden = !text;
  };
  say("");
  const data = new FormData(form);
  const res = await fetch(SESSION, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ username: data.get("username"), password: data.get("password") }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    say(
      res.status === 429
        ? `Too many failed sign-ins. Try again in ${res.headers.get("retry-after") ?? "a few"} s.`
        : body?.error?.message ?? `Sign-in failed (HTTP ${res.status}).`,
    );
    form.querySelector("input[name=password]").select();
    return;
  }
  const next = new URLSearchParams(location.search).get("next") ?? "";
  // Only back into the console: a crafted link must not send the user elsewhere.
  location.assign(/^\/admin(\/|$|\?)/.test(next) ? next : "/admin/submissions");
}

// ---- wiring ----------------------------------------------------------------------------------

document.addEventListener("submit", (ev) => {
  const form = ev.target;
  if (!(form instanceof HTMLFormElement)) return;
  if (form.matches("[data-login]")) {
    ev.preventDefault();
    signIn(form).catch((err) => {
      const out = form.querySelector("[data-login-error]");
      out.textContent = `Sign-in failed: ${err.message}`;
      out.hidden = false;
    });
  } else if (form.matches("[data-filter]")) {
    ev.preventDefault();
    navigate(filterQuery(form));
  } else if (form.matches("[data-action]") || ev.submitter?.dataset.action) {
    ev.preventDefault();
    runAction(form, ev.submitter?.dataset.action ? ev.submitter : null);
  }
});

document.addEventListener("click", (ev) => {
  const el = ev.target instanceof Element ? ev.target.closest("a, button, input") : null;
  if (!el) return;
  if (el.matches("a[data-nav]")) {
    ev.preventDefault();
    navigate(new URL(el.href).search);
  } else if (el.matches("button[data-download]")) {
    download(el);
  } else if (el.matches("button[data-action]:not([type=submit])")) {
    runAction(el);
  } else if (el.matches("button[data-menu]")) {
    const open = el.getAttribute("aria-expanded") !== "true";
    el.setAttribute("aria-expanded", String(open));
    document.body.classList.toggle("nav-open", open);
  } else if (el.matches("button[data-signout]")) {
    signOut();
  } else if (el.matches("button[data-copy]")) {
    const text = document.querySelector(el.dataset.copy)?.textContent ?? "";
    navigator.clipboard?.writeText(text).then(() => toast("Copied."), () => {});
  } else if (el.matches("input[data-select-all]")) {
    const table = el.closest("table");
    for (const box of table.querySelectorAll("input[name=id]")) box.checked = el.checked;
  } else if (el.matches("button[data-reset-filters]")) {
    const form = el.form;
    for (const f of form.elements) if ("value" in f && f.type !== "submit") f.value = "";
    navigate("");
  }
});

addEventListener("popstate", () => {
  syncFilterForm();
  loadFragments("query");
});

if (document.body.dataset.auth === "required") {
  whoAmI().then((s) => {
    if (!s) return forget();
    const who = document.querySelector("[data-whoami]");
    if (who) who.textContent = `${s.username} (${s.role})`;
    // Convenience only: the fragments and the API refuse what a role may not do anyway.
    for (const el of document.querySelectorAll("[data-roles]")) {
      el.hidden = !el.dataset.roles.split(" ").includes(s.role);
    }
    if (s.role !== "admin") {
      for (const el of document.querySelectorAll("[data-admin-only]")) el.hidden = true;
    }
    loadFragments();
    startPolling();
  }, () => forget());
}
