/**
 * Issue 14 items 7–9 walked in chromium at 1366 px and at 390 px (a phone), against the real
 * gateway in the demo's setup (its admin, its clinic system with an API token, its mappings)
 * and the DHIS2 simulator, every request off the machine blocked. On every console page: no
 * sideways page scroll and text contrast of at least 4.5:1. Screenshots go to
 * tests/artifacts/screens/ as phone-<step>-<width>.png.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { ADMIN, CLINIC, SAMPLE_SUBMISSION, setUpSample } from "../scripts/sample.ts";
import { type Browser, chromiumAvailable, launchBrowser } from "./support/browser.ts";
import {
  confirm,
  DEMO_ENV,
  goto,
  settled,
  signIn,
  startConsoleGateway,
} from "./support/console.ts";
import {
  contrastProblems,
  horizontalOverflow,
  overflowingElements,
} from "./support/page_checks.ts";
import { PG_URL } from "./support/pg.ts";

const WIDTHS = [1366, 390] as const;

Deno.test({
  name: "console completeness, phone layout and Swagger at 1366 and 390 px, offline",
  ignore: !PG_URL || !(await chromiumAvailable()),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const g = await startConsoleGateway("admin_browser_phone", { env: DEMO_ENV });
    const base = g.base;
    let browser: Browser | undefined;
    try {
      const sample = await setUpSample(`${base}/api/v3`);
      const send = async (body: unknown) => {
        const res = await fetch(`${base}/api/v3/aggregate`, {
          method: "POST",
          headers: { Authorization: sample.apiToken, "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        assert.equal(res.status, 200);
        return (await res.json()).submission_id as number;
      };
      const delivered = await send(SAMPLE_SUBMISSION);
      await g.until(delivered, "delivered");
      // A submission DHIS2 refused 120 values of: its detail page shows them 50 at a time.
      const refused = await send({ ...SAMPLE_SUBMISSION, period: "202409" });
      await g.until(refused, "delivered");
      const conflicts = Array.from({ length: 120 }, (_, i) => ({
        object: "deMalCases1",
        message: `conflict number ${i + 1}`,
        errorCode: "E7619",
        codes: ["MAL_M"],
        indexes: [1],
      }));
      await g.db.sql`update deliveries set conflicts = ${g.db.sql.json(conflicts)},
        status = 'partial' where submission_id = ${refused}`;
      await g.db.sql`update submissions set status = 'partial' where id = ${refused}`;

      browser = await launchBrowser();
      const { page } = browser;
      let adminPassword = ADMIN.password;
      // The admin's API access token, from a login with the password as it now is.
      const adminToken = () => g.login("admin", adminPassword);

      const check = async (name: string, width: number) => {
        await settled(page);
        const over = await horizontalOverflow(page);
        if (over) {
          const culprits = await overflowingElements(page);
          assert.fail(`${name} at ${width} px scrolls sideways by ${over} px: ${culprits}`);
        }
        assert.deepEqual(await contrastProblems(page), [], `${name} at ${width} px: contrast`);
        await browser!.screenshot(`phone-${name}-${width}`);
      };
      /** The action report says `expected` (its text in the failure message otherwise). */
      const reported = async (expected: RegExp) => {
        const report = page.locator("[data-report]");
        const deadline = Date.now() + 10_000;
        let text = "";
        while (Date.now() < deadline) {
          text = await report.innerText().catch(() => "");
          // The action reloads the page's fragments after its report: wait for them too.
          if (expected.test(text)) return await settled(page);
          await page.waitForTimeout(100);
        }
        assert.fail(`the report says ${JSON.stringify(text)}, not ${expected}`);
      };
      const openMenu = async (p: Page, width: number) => {
        if (width >= 760) return;
        const menu = p.getByRole("button", { name: "Menu" });
        assert.equal(await menu.getAttribute("aria-expanded"), "false");
        await menu.click();
        assert.equal(await menu.getAttribute("aria-expanded"), "true");
      };

      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: width < 760 ? 844 : 800 });

        await t.step(`${width} px: sign in; navigation folds on a phone`, async () => {
          await page.goto(`${base}/admin/login`);
          // Loopback over HTTP: no warning here (routes.ts warns elsewhere).
          assert.equal(await page.locator("[data-insecure]").count(), 0);
          await check("login", width);
          await signIn(page, base, "admin", adminPassword);
          const users = page.getByRole("link", { name: "Users" });
          assert.equal(await users.isVisible(), width >= 760);
          await openMenu(page, width);
          assert.equal(await users.isVisible(), true);
          await check("nav", width);
        });

        await t.step(`${width} px: names beside UIDs, a filter by name, CSV export`, async () => {
          await goto(page, `${base}/admin/submissions`);
          const row = page.locator(`tbody tr[data-id="${delivered}"]`);
          assert.match(await row.innerText(), /Ngelehun CHC[\s\S]*DiszpKrYNg8/);
          assert.match(await row.innerText(), /Monthly HMIS[\s\S]*pBOMPrpg1QX/);
          await check("submissions", width);
          await goto(page, `${base}/admin/submissions?orgUnit=OU_BAOMA`);
          assert.equal(await page.locator("tbody tr[data-id]").count(), 0);
          await page.getByLabel("Data set").fill("monthly hmis");
          await page.getByLabel("Org unit").fill("");
          await page.getByRole("button", { name: "Apply filters" }).click();
          await page.waitForURL(/dataSet=monthly/);
          await settled(page);
          const [{ n }] = await g.db.sql`select count(*)::int as n from submissions`;
          assert.equal(await page.locator("tbody tr[data-id]").count(), n);
          const download = page.waitForEvent("download");
          await page.getByRole("button", { name: "Export CSV" }).click();
          const file = await download;
          assert.match(file.suggestedFilename(), /^dhis2gw_submissions_\d{4}-\d{2}-\d{2}\.csv$/);
          const csv = await Deno.readTextFile(await file.path());
          const lines = csv.trim().split("\r\n");
          assert.equal(lines.length, n + 1, csv);
          assert.match(lines[0], /^id,task_id,status,/);
          assert.ok(lines.some((l) => new RegExp(`^${refused},.*,partial,`).test(l)), csv);
        });

        await t.step(`${width} px: 120 conflicts, 50 a page`, async () => {
          await goto(page, `${base}/admin/submissions/${refused}`);
          await page.getByRole("heading", { name: "Conflicts (120)" }).waitFor();
          const rows = page.locator("#conflicts-h + .table-scroll tbody tr");
          assert.equal(await rows.count(), 50);
          const pager = page.getByRole("navigation", { name: "Pages of conflicts" });
          assert.match(await pager.innerText(), /Page 1 of 3/);
          await pager.getByRole("link", { name: "Next →" }).click();
          await page.waitForURL(/conflicts_page=2/);
          await settled(page);
          assert.match(await pager.innerText(), /Page 2 of 3/);
          assert.match(await rows.first().innerText(), /conflict number 51/);
          assert.match(await page.locator("main").innerText(), /ANC 1st visit/);
          await check("conflicts", width);
        });

        await t.step(`${width} px: create, check, edit and delete one mapping`, async () => {
          const code = `STOCK_${width}`;
          await goto(page, `${base}/admin/mappings`);
          await page.getByRole("link", { name: "New mapping" }).click();
          await page.waitForURL(/\/admin\/mappings\/new$/);
          await settled(page);
          await page.getByLabel("Code").fill(code);
          await page.getByLabel("Name").fill("Stock-out days");
          await page.getByLabel("Data set").fill("pBOMPrpg1QX");
          await page.getByLabel("Data element").fill("not-a-uid");
          await page.getByRole("button", { name: "Create mapping" }).click();
          const report = page.locator("[data-report]");
          await report.locator(".alert.error").waitFor();
          assert.match(await report.innerText(), /dataElement/);
          await check("mapping-invalid", width);
          await page.getByLabel("Data element").fill("deStockOut1");
          await page.getByRole("button", { name: "Create mapping" }).click();
          await report.getByText(`Created the mapping ${code}`).waitFor();
          await report.getByRole("link", { name: "Edit it" }).click();
          await page.waitForURL(/\/admin\/mappings\/\w{11}$/);
          await settled(page);
          await page.getByLabel("Name").fill("Stock-out days (ORS)");
          await page.getByRole("button", { name: "Save mapping" }).click();
          await report.getByText(`Saved the mapping ${code}`).waitFor();
          const stored = await g.api("GET", `/mappings?code=${code}`, await adminToken());
          assert.equal(stored.items[0].name, "Stock-out days (ORS)");
          await check("mapping-edit", width);
          await page.getByRole("button", { name: "Delete" }).click();
          await confirm(page, new RegExp(`Delete the mapping ${code}\\?`));
          await report.getByText(`Deleted the mapping ${code}`).waitFor();
          assert.equal((await g.api("GET", `/mappings?code=${code}`, await adminToken())).total, 0);
          await goto(page, `${base}/admin/mappings`);
          assert.match(await page.locator("main").innerText(), /Malaria cases/);
          await check("mappings", width);
        });

        await t.step(
          `${width} px: a user's new password, role, deactivate, reactivate`,
          async () => {
            await goto(page, `${base}/admin/users`);
            await check("users", width);
            await page.getByRole("link", { name: `Edit ${CLINIC.username}` }).click();
            await page.waitForURL(new RegExp(`/admin/users/${sample.clinicUid}$`));
            await settled(page);
            await page.getByLabel("Account").selectOption("false");
            await page.getByRole("button", { name: "Save changes" }).click();
            await reported(/Saved clinic: role submitter, source default, deactivated/);
            const off = await fetch(`${base}/api/v3/logs`, {
              headers: { Authorization: sample.apiToken },
            });
            assert.equal(off.status, 401);
            await off.body?.cancel();
            await page.getByLabel("Account").selectOption("true");
            await page.getByLabel("New password (leave empty to keep)").fill(CLINIC.password + "!");
            await page.getByRole("button", { name: "Save changes" }).click();
            await reported(
              /Saved clinic: role submitter, source default, active; new password set/,
            );
            await page.locator("[data-report]").evaluate((e) => e.textContent = "");
            await page.getByLabel("New password (leave empty to keep)").fill(CLINIC.password);
            await page.getByRole("button", { name: "Save changes" }).click();
            await reported(/new password set/);
            const on = await fetch(`${base}/api/v3/logs`, {
              headers: { Authorization: sample.apiToken },
            });
            assert.equal(on.status, 200, "kept API tokens work again");
            await on.body?.cancel();
            await check("user-edit", width);
          },
        );

        await t.step(`${width} px: change my password; the status chart fits`, async () => {
          await goto(page, `${base}/admin/account`);
          const next = `${ADMIN.password}-${width}`;
          await page.getByLabel("Current password").fill(adminPassword);
          await page.getByLabel("New password", { exact: true }).fill(next);
          await page.getByLabel("New password again").fill(next);
          await page.getByRole("button", { name: "Change password" }).click();
          await page.locator("[data-report]").getByText("Your password was changed").waitFor();
          adminPassword = next;
          await check("account", width);
          // Still signed in here, with a new session: a write still passes the CSRF check.
          await goto(page, `${base}/admin/status`);
          const svg = await page.locator(".chart svg:visible").boundingBox();
          assert.ok(svg && svg.width <= width, `the chart is ${svg?.width} px wide`);
          // Readable too: its labels are not shrunk with it (they were 4 px high at 390 px).
          const label = await page.locator(".chart svg:visible text").first().boundingBox();
          assert.ok(label && label.height >= 10, `chart labels are ${label?.height} px high`);
          await check("status", width);
          // The operators' lists (refused requests, audit trail) fit a phone too.
          await goto(page, `${base}/admin/requests`);
          await check("requests", width);
          await goto(page, `${base}/admin/audit`);
          await check("audit", width);
          await openMenu(page, width);
          await page.getByRole("button", { name: "Sign out" }).click();
          await page.waitForURL(/\/admin\/login\?message=signed_out/);
        });

        await t.step(`${width} px: a submitter sees its own submissions and tokens`, async () => {
          await signIn(page, base, CLINIC.username, CLINIC.password);
          await openMenu(page, width);
          for (const hidden of ["Users", "Mappings", "Status", "Refused requests", "Audit"]) {
            assert.equal(await page.getByRole("link", { name: hidden }).isVisible(), false);
          }
          const [{ n }] = await g.db.sql`select count(*)::int as n from submissions
            where user_uid = ${sample.clinicUid}`;
          assert.equal(await page.locator("tbody tr[data-id]").count(), n);
          assert.equal(await page.locator("[data-action]").count(), 0);
          await check("submitter", width);
          await page.getByRole("link", { name: "My account" }).click();
          await settled(page);
          await page.getByRole("link", { name: "My API tokens" }).click();
          await page.waitForURL(new RegExp(`/admin/users/${sample.clinicUid}/tokens$`));
          await settled(page);
          assert.match(await page.locator("main").innerText(), /clinic system/);
          await check("submitter-tokens", width);
          await openMenu(page, width);
          await page.getByRole("button", { name: "Sign out" }).click();
          await page.waitForURL(/\/admin\/login\?message=signed_out/);
        });

        await t.step(`${width} px: Swagger "Try it out" on POST /aggregate`, async () => {
          await page.goto(`${base}/swagger/`);
          await page.locator(".swagger-ui .info .title", { hasText: "dhis2gw" }).waitFor();
          await page.locator("button.authorize").first().click();
          const box = page.locator(".auth-container", { hasText: "Token (apiKey)" });
          // The token exactly as the demo printed it: no "Token " in front.
          await box.locator("input").fill(sample.apiToken);
          await box.locator("button.authorize").click();
          await box.locator("button", { hasText: "Logout" }).waitFor();
          await page.locator("button.btn-done").first().click();
          const op = page.locator(".opblock-post", {
            has: page.locator('.opblock-summary-path[data-path="/api/v3/aggregate"]'),
          });
          await op.locator(".opblock-summary").first().click();
          await op.locator("button.try-out__btn").click();
          assert.deepEqual(
            JSON.parse(await op.locator("textarea.body-param__text").inputValue()),
            SAMPLE_SUBMISSION,
          );
          await op.locator("button.execute").click();
          const status = op.locator(".live-responses-table .response .response-col_status")
            .first();
          await status.waitFor();
          assert.equal((await status.innerText()).trim(), "200");
          const body = JSON.parse(
            await op.locator(".live-responses-table .response-col_description pre").first()
              .innerText(),
          );
          assert.equal(body.status, "queued");
          assert.equal(body.unmapped_codes, undefined);
          await op.locator(".live-responses-table").scrollIntoViewIfNeeded();
          await browser!.screenshot(`phone-swagger-${width}`, { fullPage: false });
        });
      }
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
