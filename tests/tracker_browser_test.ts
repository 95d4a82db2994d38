/**
 * A tracker submission in the console (chromium against the real gateway and the simulator):
 * the list shows its kind and filters by it, the detail lists every object with its result and
 * DHIS2's error; a viewer sees UIDs and outcomes but no attribute value and no DHIS2 message.
 */
import assert from "node:assert/strict";
import { type Browser, chromiumAvailable, launchBrowser } from "./support/browser.ts";
import { goto, signIn, startConsoleGateway } from "./support/console.ts";
import { PG_URL } from "./support/pg.ts";
import { person, PROGRAM } from "./support/tracker.ts";

const SECRET = "Fatmata";

Deno.test({
  name: "tracker objects and their errors in the console; a viewer sees no attribute value",
  ignore: !PG_URL || !(await chromiumAvailable()),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const g = await startConsoleGateway("tracker_browser");
    let browser: Browser | undefined;
    try {
      const aggregateId = await g.submit("202601", 5);
      const body = person(SECRET, {}, { programStage: "aaaaaaaaaaa" });
      const reply = await g.api("POST", "/tracker", g.tokens.bridge, body);
      const id = reply.submission_id;
      await g.until(id, "rejected");
      await g.until(aggregateId, "delivered");
      const eventUid = reply.objects[2].uid;

      browser = await launchBrowser();
      const { page } = browser;
      await signIn(page, g.base, "admin", g.passwords.admin);
      await goto(page, `${g.base}/admin/submissions?kind=tracker`);
      const rows = page.locator("tr[data-id]");
      assert.equal(await rows.count(), 1);
      assert.match(await rows.first().innerText(), /rejected\s+tracker/);
      await goto(page, `${g.base}/admin/submissions/${id}`);
      await page.getByRole("heading", { name: "Tracker objects (3)" }).waitFor();
      const refused = page.locator(`tr[data-uid="${eventUid}"]`);
      const text = await refused.innerText();
      assert.match(text, /EVENT/);
      assert.match(text, /\$\.trackedEntities\[0\]\.enrollments\[0\]\.events\[0\]/);
      assert.match(text, /refused/);
      assert.match(text, /E1013/);
      assert.match(text, /Could not find ProgramStage: `aaaaaaaaaaa`, linked to Event\./);
      const main = await page.locator("main").innerText();
      assert.match(main, new RegExp(SECRET));
      // A tracker submission's program is named so, not "Data set"; it has no period.
      assert.match(main, new RegExp(`Program\\s+${PROGRAM}`));
      assert.doesNotMatch(main, /Data set|Period/);
      await browser.screenshot("tracker-detail-admin");

      await page.context().clearCookies();
      await page.evaluate(() => sessionStorage.clear());
      await signIn(page, g.base, "viewer1", g.passwords.viewer);
      await goto(page, `${g.base}/admin/submissions/${id}`);
      await page.getByRole("heading", { name: "Tracker objects (3)" }).waitFor();
      const seen = await page.locator("main").innerText();
      assert.match(seen, /E1013/);
      assert.match(seen, new RegExp(eventUid));
      assert.doesNotMatch(seen, new RegExp(SECRET));
      assert.doesNotMatch(seen, /Could not find ProgramStage/);
      assert.match(seen, /Shown to admins only: DHIS2's reply can quote attribute values\./);
      await browser.screenshot("tracker-detail-viewer");
      assert.ok(!g.lines.some((l) => l.includes(SECRET)), "an attribute value reached the log");
    } finally {
      await browser?.close();
      await g.stop();
    }
  },
});
