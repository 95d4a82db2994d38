/**
 * Two destinations in chromium at 390 px (a phone): the Submissions filter narrows to one
 * destination and each row lists both deliveries; the Status page's Destinations table shows
 * both. Neither page scrolls sideways: the tables scroll inside their boxes.
 */
import assert from "node:assert/strict";
import { startSimulator } from "../src/simulator/simulator.ts";
import { type Browser, chromiumAvailable, launchBrowser } from "./support/browser.ts";
import { goto, settled, signIn, startConsoleGateway } from "./support/console.ts";
import { horizontalOverflow } from "./support/page_checks.ts";
import { PG_URL } from "./support/pg.ts";

Deno.test({
  name: "destinations in the console at 390 px",
  ignore: !PG_URL || !(await chromiumAvailable()),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const training = await startSimulator();
    const g = await startConsoleGateway("admin_browser_destinations", {
      fileText: `
destinations:
  default:
    copies: [training]
  training:
    base_url: ${training.url}
    user: admin
    password: district
`,
    });
    let browser: Browser | undefined;
    try {
      const id = await g.submit("202601", 5);
      await g.until(id, "delivered");
      browser = await launchBrowser();
      const { page } = browser;
      await page.setViewportSize({ width: 390, height: 844 });
      await signIn(page, g.base, "viewer1", g.passwords.viewer);

      await goto(page, `${g.base}/admin/submissions?destination=training`);
      await settled(page);
      assert.equal(await page.locator("#f-destination").inputValue(), "training");
      assert.equal(await page.locator("tr[data-id]").count(), 1);
      assert.deepEqual(
        await page.locator(`tr[data-id="${id}"] li[data-destination]`).allInnerTexts(),
        ["default delivered", "training delivered"],
      );
      assert.equal(await horizontalOverflow(page), 0);
      await browser.screenshot("destinations-submissions-390");

      await goto(page, `${g.base}/admin/status`);
      await settled(page);
      const rows = page.locator("#destinations-title ~ .table-scroll tr[data-destination]");
      assert.equal(await rows.count(), 2);
      assert.deepEqual(await rows.locator("[data-breaker]").allInnerTexts(), ["closed", "closed"]);
      // The breaker tile names whose breaker each state is, once there are several.
      assert.match(
        await page.locator('[data-breaker-of="training"]').innerText(),
        /^training\s+closed/,
      );
      assert.equal(await horizontalOverflow(page), 0);
      await browser.screenshot("destinations-status-390");
      assert.deepEqual(browser.blocked, []);
    } finally {
      await browser?.close();
      await g.stop();
      await training.stop();
    }
  },
});
