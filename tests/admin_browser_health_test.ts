/**
 * The DHIS2 health banner in chromium: absent while DHIS2 answers, shown on every console page
 * once the health check finds DHIS2 refusing the gateway's credentials (the page polls for it),
 * gone again after DHIS2 recovers; and the Status page reloads itself. Playwright's clock drives
 * the page's timers, so the 15 s and 30 s polls take no real time.
 */
import assert from "node:assert/strict";
import { type Browser, chromiumAvailable, launchBrowser } from "./support/browser.ts";
import { goto, settled, signIn, startConsoleGateway } from "./support/console.ts";
import { PG_URL } from "./support/pg.ts";

const BANNER = "[data-health-banner]";

Deno.test({
  name: "a banner on every console page while DHIS2 refuses the gateway's credentials",
  ignore: !PG_URL || !(await chromiumAvailable()),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const g = await startConsoleGateway("admin_browser_health");
    let browser: Browser | undefined;
    try {
      const health = g.gw.health!;
      assert.equal((await health.checkAll())[0].state, "ok");
      browser = await launchBrowser();
      const { page } = browser;
      await page.clock.install();
      await signIn(page, g.base, "viewer1", g.passwords.viewer);
      assert.equal(await page.locator(BANNER).count(), 0);

      // DHIS2 starts refusing our credentials; the next health check sees it.
      g.sim.injectFaults([{ path: "/api/system/info", status: 401, times: Infinity }]);
      const checked = (await health.checkAll())[0];
      assert.equal(checked.state, "credentials_refused");
      assert.ok(g.lines.some((l) =>
        l.includes('"level":"warn"') &&
        l.includes('"msg":"DHIS2 destination refuses the gateway\'s credentials"')
      ));
      // No reload: the open page's own poll brings the banner.
      await page.clock.fastForward(31_000);
      await page.locator(BANNER).waitFor();
      assert.match(
        await page.locator(BANNER).innerText(),
        /DHIS2 "default" refuses the gateway's credentials \(HTTP 401\)\./,
      );
      await browser.screenshot("health-banner-submissions");

      for (const path of ["/admin/mappings", "/admin/status"]) {
        await goto(page, `${g.base}${path}`);
        await page.locator(BANNER).waitFor();
      }
      await browser.screenshot("health-banner-status");

      // The Status page fetches its fragment again every 15 s.
      const again = page.waitForResponse((r) => r.url().endsWith("/admin/f/status"));
      await page.clock.fastForward(16_000);
      assert.equal((await again).status(), 200);
      await settled(page);

      // DHIS2 accepts us again: the banner goes at the next poll.
      g.sim.clearFaults();
      assert.equal((await health.checkAll())[0].state, "ok");
      await page.clock.fastForward(31_000);
      await page.locator(BANNER).waitFor({ state: "detached" });
      assert.deepEqual(browser.blocked, []);
    } finally {
      await browser?.close();
      await g.stop();
    }
  },
});
