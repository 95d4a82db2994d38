/**
 * Swagger UI and the console's Submissions pages in Debian's chromium, against the real gateway
 * (API and delivery worker) and the DHIS2 simulator. Every request to a host other than
 * loopback is blocked and fails the test. Screenshots go to tests/artifacts/screens/.
 */
import assert from "node:assert/strict";
import { type Browser, chromiumAvailable, launchBrowser } from "./support/browser.ts";
import { confirm, goto, settled, signIn, startConsoleGateway } from "./support/console.ts";
import { PG_URL } from "./support/pg.ts";

Deno.test({
  name: "Swagger UI and the Submissions console in chromium, nothing fetched off the machine",
  ignore: !PG_URL || !(await chromiumAvailable()),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const g = await startConsoleGateway("admin_browser");
    const base = g.base;
    let browser: Browser | undefined;
    try {
      // An old delivered one (for the purge), two delivered, then one DHIS2 answers 503 once:
      // with no retries allowed it is dead.
      const old = await g.submit("202512", 10);
      const delivered = [await g.submit("202601", 11), await g.submit("202602", 12)];
      for (const id of [old, ...delivered]) await g.until(id, "delivered");
      await g.db.sql`update submissions set created_at = now() - interval '40 days'
        where id = ${old}`;
      g.sim.injectFaults([{ path: "/api/dataValueSets", status: 503, times: 1 }]);
      const deadId = await g.submit("202603", 13);
      assert.equal((await g.until(deadId, "dead")).attempts_log.length, 1);

      browser = await launchBrowser();
      const { page } = browser;

      await t.step(
        "Swagger UI authorizes with a bearer token and runs GET /api/v3/logs",
        async () => {
          await page.goto(`${base}/swagger/`);
          await page.locator(".swagger-ui .info .title", { hasText: "dhis2gw" }).waitFor();
          await page.locator("button.authorize").first().click();
          const bearer = page.locator(".auth-container", { hasText: "http, Bearer" });
          await bearer.locator("#auth-bearer-value").fill(g.tokens.admin);
          await bearer.locator("button.authorize").click();
          await bearer.locator("button", { hasText: "Logout" }).waitFor();
          await bearer.locator("button.btn-done").click();
          const op = page.locator(".opblock-get", {
            has: page.locator('.opblock-summary-path[data-path="/api/v3/logs"]'),
          });
          await op.locator(".opblock-summary").first().click();
          await op.locator("button.try-out__btn").click();
          await op.locator("input[placeholder=status]").fill("dead");
          await op.locator("button.execute").click();
          const status = op.locator(".live-responses-table .response .response-col_status").first();
          await status.waitFor();
          assert.equal((await status.innerText()).trim(), "200");
          assert.match(await op.locator(".curl-command").innerText(), /Authorization: Bearer ey/);
          const body = JSON.parse(
            await op.locator(".live-responses-table .response-col_description pre").first()
              .innerText(),
          );
          assert.deepEqual(body.items.map((s: { id: number }) => s.id), [deadId]);
          await op.locator(".live-responses-table").scrollIntoViewIfNeeded();
          await page.mouse.wheel(0, -360);
          await browser!.screenshot("swagger", { fullPage: false });
        },
      );

      await t.step("sign in, filter by status and open a dead submission", async () => {
        await signIn(page, base, "admin", g.passwords.admin);
        assert.equal(await page.locator("[data-whoami]").innerText(), "admin (admin)");
        assert.equal(await page.locator("[data-count=delivered] strong").innerText(), "3");
        await browser!.screenshot("submissions");
        await page.getByLabel("Status", { exact: true }).selectOption("dead");
        await page.getByRole("button", { name: "Apply filters" }).click();
        await page.waitForURL(/status=dead/);
        await settled(page);
        const rows = page.locator("tbody tr[data-id]");
        assert.equal(await rows.count(), 1);
        assert.equal(await rows.first().getAttribute("data-id"), String(deadId));
        await rows.first().getByRole("link", { name: String(deadId) }).click();
        await page.waitForURL(new RegExp(`/admin/submissions/${deadId}$`));
        await settled(page);
        await page.getByRole("heading", { name: "Attempts (1)" }).waitFor();
        assert.match(await page.locator("main").innerText(), /HTTP 503/);
        await browser!.screenshot("submission-dead");
      });

      await t.step("requeue the dead submission; the worker delivers it", async () => {
        await page.getByRole("button", { name: "Requeue", exact: true }).click();
        await confirm(page, new RegExp(`Requeue submission ${deadId} \\(dead\\)`));
        await page.locator("[data-report] .alert.ok").waitFor();
        assert.match(await page.locator("[data-report]").innerText(), /Re-enqueued task/);
        await g.until(deadId, "delivered");
        await page.reload();
        await settled(page);
        await page.getByRole("heading", { name: "Attempts (2)" }).waitFor();
        assert.equal(await page.locator(".toolbar .badge").first().innerText(), "delivered");
        await browser!.screenshot("submission-delivered");
      });

      await t.step("requeue selected and all matching report what happened", async () => {
        await goto(page, `${base}/admin/submissions?period=202601`);
        await page.getByLabel(`Select submission ${delivered[0]}`).check();
        await page.getByRole("button", { name: "Requeue selected" }).click();
        await confirm(page, /Requeue the 1 selected submission/);
        await page.locator("[data-report] .alert").waitFor();
        assert.match(
          await page.locator("[data-report]").innerText(),
          /Requeued 1 submission of 1 matched/,
        );
        await g.until(delivered[0], "delivered");
        await page.getByRole("button", { name: /Requeue all \d+ matching/ }).click();
        await confirm(page, /Requeue all 1 submissions matching the current filters/);
        await page.locator("[data-report] .alert").filter({ hasText: "of 1 matched" }).waitFor();
        await g.until(delivered[0], "delivered");
      });

      await t.step("purge submissions created before a day", async () => {
        await goto(page, `${base}/admin/submissions`);
        const cutoff = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
        await page.getByLabel("Created before (day)").fill(cutoff);
        // Escape cancels: nothing is purged.
        await page.getByRole("button", { name: "Purge…" }).click();
        await page.locator("dialog[data-confirm-dialog]").waitFor({ state: "visible" });
        await page.keyboard.press("Escape");
        await page.locator("dialog[data-confirm-dialog]").waitFor({ state: "hidden" });
        assert.equal(await page.locator("[data-report]").isVisible(), false);
        // By keyboard: focus the button, Enter opens the question, Enter on Confirm answers it.
        await page.getByRole("button", { name: "Purge…" }).focus();
        await page.keyboard.press("Enter");
        await confirm(page, new RegExp(`finished submissions created before ${cutoff}`), "Enter");
        await page.locator("[data-report] .alert.ok").waitFor();
        assert.match(
          await page.locator("[data-report]").innerText(),
          new RegExp(`Purged 1 submission created before ${cutoff} that had finished`),
        );
        await settled(page);
        assert.equal(await page.locator("tbody tr[data-id]").count(), 3);
        const [{ n }] = await g.db
          .sql`select count(*)::int as n from submissions where id = ${old}`;
        assert.equal(n, 0);
        await browser!.screenshot("submissions-purged");
      });
    } finally {
      if (browser) {
        const { blocked, errors } = browser;
        await browser.close();
        assert.deepEqual(blocked, [], "requests that tried to leave the machine");
        assert.deepEqual(errors, [], "errors in the pages");
      }
      await g.stop();
    }
  },
});
