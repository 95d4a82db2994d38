/**
 * The real gateway (startGateway: API and delivery worker) on a test database, delivering to
 * the DHIS2 simulator, with an admin, a viewer and a submitter, for the console's browser
 * tests; plus the page helpers those tests share.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { type Gateway, startGateway } from "../../src/cli/gateway.ts";
import { loadConfig } from "../../src/config/config.ts";
import {
  DEFAULT_PASSWORD,
  DEFAULT_USERNAME,
  type Simulator,
  startSimulator,
} from "../../src/simulator/simulator.ts";
import { captureLogger } from "../../src/logs/logger.ts";
import { createTestDb, type TestDb } from "./pg.ts";

export const ORG_UNIT = "DiszpKrYNg8";
export const DATA_SET = "pBOMPrpg1QX";
export const DATA_ELEMENT = "f7n9E0hX8qk";

/** The demo's settings (scripts/demo.ts): its admin password and mapping by code. */
export const DEMO_ENV = {
  DHIS2GW_ADMIN_PASSWORD: "Demo-Gateway-2026",
  DHIS2GW_MAPPING_SCHEME: "CODE",
  DHIS2GW_MAX_RETRIES: "5",
};

export interface ConsoleGateway {
  base: string;
  db: TestDb;
  sim: Simulator;
  gw: Gateway;
  /** Every log line the gateway wrote. */
  lines: string[];
  passwords: { admin: string; viewer: string; bridge: string };
  /** Access tokens from getToken: admin, viewer1 and the submitter hmis_bridge. */
  tokens: { admin: string; viewer: string; bridge: string };
  /** Calls /api/v3 with a bearer token and asserts a 2xx. */
  // deno-lint-ignore no-explicit-any
  api(method: string, path: string, token: string, body?: unknown): Promise<any>;
  login(username: string, password: string): Promise<string>;
  /** Submits one value for `period` as hmis_bridge; returns the submission id. */
  submit(period: string, value: number): Promise<number>;
  /** Waits until the worker has taken the submission to `status`. */
  // deno-lint-ignore no-explicit-any
  until(id: number, status: string): Promise<any>;
  stop(): Promise<void>;
}

/** `env` overrides the test's settings (the demo's: `DEMO_ENV`); `fileText`: a config file. */
export async function startConsoleGateway(
  label: string,
  opts: { env?: Record<string, string>; fileText?: string } = {},
): Promise<ConsoleGateway> {
  const db = await createTestDb(label);
  const sim = await startSimulator();
  const { log, lines } = captureLogger("info");
  const passwords = {
    admin: opts.env?.DHIS2GW_ADMIN_PASSWORD ?? `pw-${crypto.randomUUID()}`,
    viewer: `pw-${crypto.randomUUID()}`,
    bridge: `pw-${crypto.randomUUID()}`,
  };
  const loaded = loadConfig({
    fileText: opts.fileText,
    env: {
      DHIS2GW_DB: db.url,
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_SERVER_PORT: "0",
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: DEFAULT_USERNAME,
      DHIS2GW_DHIS2_PASSWORD: DEFAULT_PASSWORD,
      DHIS2GW_ADMIN_USERNAME: "admin",
      DHIS2GW_ADMIN_PASSWORD: passwords.admin,
      // Keys are DHIS2 data element UIDs: submissions need no mapping table.
      DHIS2GW_MAPPING_SCHEME: "UID",
      // One attempt, then dead: a single injected 503 makes a dead submission.
      DHIS2GW_MAX_RETRIES: "0",
      DHIS2GW_REQUEST_PROCESS_INTERVAL: "1",
      ...opts.env,
    },
  });
  assert.ok(loaded.config, loaded.problems.join("; "));
  const gw = await startGateway(loaded.config!, log);
  const base = `http://127.0.0.1:${gw.port}`;

  const api = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${base}/api/v3${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const login = async (username: string, password: string) => {
    const res = await fetch(`${base}/api/v3/users/getToken`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    assert.equal(res.status, 201);
    return (await res.json()).token as string;
  };
  const admin = await login("admin", passwords.admin);
  for (
    const [username, role, password, first] of [
      ["viewer1", "viewer", passwords.viewer, "Vera"],
      ["hmis_bridge", "submitter", passwords.bridge, "HMIS"],
    ]
  ) {
    await api("POST", "/users", admin, { username, password, role, firstName: first });
  }
  const tokens = {
    admin,
    viewer: await login("viewer1", passwords.viewer),
    bridge: await login("hmis_bridge", passwords.bridge),
  };
  return {
    base,
    db,
    sim,
    gw,
    lines,
    passwords,
    tokens,
    api,
    login,
    submit: async (period, value) =>
      (await api("POST", "/aggregate", tokens.bridge, {
        orgUnit: ORG_UNIT,
        period,
        dataSet: DATA_SET,
        dataValues: { [DATA_ELEMENT]: value },
      })).submission_id,
    until: async (id, status) => {
      // Bounded polling of the API: the worker runs inside the gateway, out of the test's reach.
      const deadline = Date.now() + 20_000;
      for (;;) {
        const s = await api("GET", `/logs/${id}`, tokens.admin);
        if (s.status === status) return s;
        if (Date.now() > deadline) throw new Error(`submission ${id} stayed ${s.status}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: async () => {
      await gw.stop();
      await sim.stop();
      await db.close();
      for (const secret of Object.values(passwords)) {
        assert.ok(!lines.some((l) => l.includes(secret)), "a password reached the log");
      }
    },
  };
}

/** Every fragment of the page has loaded (the script sets aria-busy=false when done). */
export async function settled(page: Page): Promise<void> {
  // A function, not a string: the console's CSP forbids eval, and rightly so.
  await page.waitForFunction(() => {
    type El = { getAttribute(name: string): string | null };
    const doc = (globalThis as unknown as {
      document: { querySelectorAll(sel: string): Iterable<El> };
    }).document;
    return [...doc.querySelectorAll("[data-fragment]")].every((e) =>
      e.getAttribute("aria-busy") === "false"
    );
  });
}

/** Answers the console's confirmation dialog with Confirm (or `key`), after checking it. */
export async function confirm(page: Page, expected: RegExp, key?: "Enter"): Promise<void> {
  const dialog = page.locator("dialog[data-confirm-dialog]");
  await dialog.waitFor({ state: "visible" });
  assert.match(await dialog.locator("[data-confirm-text]").innerText(), expected);
  // The dialog opens with Confirm focused, so a keyboard user answers with Enter.
  if (key) await page.keyboard.press(key);
  else await dialog.locator("[data-confirm-ok]").click();
}

export async function goto(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await settled(page);
}

export async function signIn(page: Page, base: string, username: string, password: string) {
  await page.goto(`${base}/admin`);
  await page.waitForURL(/\/admin\/login\?next=/);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/admin\/submissions/);
  await settled(page);
}
