/**
 * A partner says "we sent it": its refused submission is found in the console by its username
 * within two clicks from the start page (issue 14 item 4), in chromium against the real
 * gateway. Screenshots go to tests/artifacts/screens/.
 */
import assert from "node:assert/strict";
import { type Browser, chromiumAvailable, launchBrowser } from "./support/browser.ts";
import { DATA_SET, ORG_UNIT, settled, signIn, startConsoleGateway } from "./support/console.ts";
import { PG_URL } from "./support/pg.ts";

Deno.test({
  name: "a refused submission is found by its partner's username within two clicks",
  ignore: !PG_URL || !(await chromiumAvailable()),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const g = await startConsoleGateway("admin_browser_refusals");
    let browser: Browser | undefined;
    try {
      // hmis_bridge sends with a stale password (401), then a value set with a bad field (422).
      const send = async (authorization: string, body: unknown) => {
        const res = await fetch(`${g.base}/api/v3/aggregate`, {
          method: "POST",
          headers: { Authorization: authorization, "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        await res.body?.cancel();
        return res.status;
      };
      assert.equal(await send(`Basic ${btoa("hmis_bridge:last-years-password")}`, {}), 401);
      assert.equal(
        await send(`Bearer ${g.tokens.bridge}`, {
          orgUnit: ORG_UNIT,
          period: "2026-13",
          dataSet: DATA_SET,
          dataValues: {},
        }),
        422,
      );
      // Another partner's refusal, which the filter must leave out.
      assert.equal(await send(`Basic ${btoa("other_system:whatever-pw")}`, {}), 401);
      // The request log is written in batches: wait until the three rows are in.
      for (let i = 0;; i++) {
        const [{ n }] = await g.db.sql`
          select count(*)::int as n from request_log where path = '/api/v3/aggregate'`;
        if (n >= 3) break;
        assert.ok(i < 200, "request log rows did not arrive");
        await new Promise((r) => setTimeout(r, 50));
      }

      browser = await launchBrowser();
      const { page } = browser;
      await signIn(page, g.base, "admin", g.passwords.admin);
      // Click 1: the navigation.
      await page.getByRole("link", { name: "Refused requests" }).click();
      await page.waitForURL(/\/admin\/requests/);
      await settled(page);
      await page.getByLabel("Username").fill("hmis_bridge");
      // Click 2: apply.
      await page.getByRole("button", { name: "Apply filters" }).click();
      await page.waitForURL(/username=hmis_bridge/);
      await settled(page);
      const rows = page.locator("[data-fragment] tbody tr");
      assert.equal(await rows.count(), 2);
      const texts = (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, " "));
      assert.match(texts[0], /422 POST \/api\/v3\/aggregate .*hmis_bridge .*validation_failed/);
      assert.match(texts[0], /fields: .*period/);
      assert.match(
        texts[1],
        /401 POST \/api\/v3\/aggregate .*hmis_bridge unverified .*unauthorized/,
      );
      assert.ok(!texts.join(" ").includes("other_system"));
      assert.ok(!texts.join(" ").includes("last-years-password"));
      await browser.screenshot("refused-requests");

      // The audit trail's CSV export, filtered as the page is (it signed the admin out before:
      // the page fetched the API route, which takes no console session).
      await page.getByRole("link", { name: "Audit" }).click();
      await page.waitForURL(/\/admin\/audit/);
      await settled(page);
      await page.getByLabel("Action", { exact: true }).fill("user.");
      await page.getByRole("button", { name: "Apply filters" }).click();
      await page.waitForURL(/action=user\./);
      await settled(page);
      const download = page.waitForEvent("download");
      await page.getByRole("button", { name: "Export as CSV" }).click();
      const file = await download;
      assert.equal(file.suggestedFilename(), "dhis2gw-audit.csv");
      const csv = (await Deno.readTextFile(await file.path())).trim().split("\n");
      assert.equal(csv.length, 3, csv.join("\n"));
      assert.match(csv[0], /^at,actor,via,action,target,/);
      assert.match(csv[1], /,admin,api,user\.create,/);
      assert.match(csv[2], /,admin,api,user\.create,/);
      assert.match(page.url(), /\/admin\/audit\?action=user\./, "still signed in, same page");
    } finally {
      if (browser) {
        const { errors } = browser;
        await browser.close();
        assert.deepEqual(errors, [], "errors in the pages");
      }
      await g.stop();
    }
  },
});
