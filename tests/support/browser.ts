/**
 * Debian's chromium driven by playwright-core for browser tests, with every request to a host
 * other than loopback blocked and recorded, so a test can assert that a page reached nothing
 * outside the machine (sites with no internet must get a working UI).
 */
import fs from "node:fs";
import type { BrowserContext, Page } from "playwright-core";

// playwright-core probes /proc/sys/fs/binfmt_misc/WSLInterop when it loads, and Deno answers
// a read under /proc/sys with NotCapable unless the whole test run has --allow-all. The test
// runner grants read access but not all; treat that one refused probe as "not WSL".
const existsSync = fs.existsSync;
fs.existsSync = ((path: fs.PathLike) => {
  try {
    return existsSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) return false;
    throw err;
  }
}) as typeof fs.existsSync;
const { chromium } = await import("playwright-core");

export const CHROMIUM = Deno.env.get("DHIS2GW_CHROMIUM") ?? "/usr/bin/chromium";
export const SCREENS = new URL("../artifacts/screens/", import.meta.url).pathname;

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Every URL a page tried to reach off this machine (each was aborted). */
  blocked: string[];
  /** Console errors and uncaught page errors, for failure messages. */
  errors: string[];
  /** Saves tests/artifacts/screens/<name>.png (the whole page unless `fullPage: false`). */
  screenshot(name: string, opts?: { fullPage?: boolean }): Promise<string>;
  close(): Promise<void>;
}

export async function chromiumAvailable(): Promise<boolean> {
  try {
    return (await Deno.stat(CHROMIUM)).isFile;
  } catch {
    return false;
  }
}

export async function launchBrowser(): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "dhis2gw-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1366, height: 800 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-domain-reliability",
    ],
  });
  const blocked: string[] = [];
  const errors: string[] = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if ((url.protocol === "http:" || url.protocol === "https:") && !LOOPBACK.has(url.hostname)) {
      blocked.push(url.href);
      return route.abort("blockedbyclient");
    }
    return route.continue();
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on("console", (m) => {
    // A 4xx the page handles (401 before a refresh, 403 shown as a message) is logged by
    // chromium as "Failed to load resource"; that is not a script error.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      errors.push(`console: ${m.text()}`);
    }
  });
  page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
  await Deno.mkdir(SCREENS, { recursive: true });
  return {
    context,
    page,
    blocked,
    errors,
    screenshot: async (name, opts = {}) => {
      const path = `${SCREENS}${name}.png`;
      await page.screenshot({ path, fullPage: opts.fullPage ?? true });
      return path;
    },
    close: async () => {
      await context.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}
