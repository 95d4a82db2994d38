/**
 * The console's Mappings, Users and Status pages, its session handling, and what a viewer sees,
 * in Debian's chromium against the real gateway and the DHIS2 simulator, with every request
 * off the machine blocked. Screenshots go to tests/artifacts/screens/.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Page } from "playwright-core";
import { type Browser, chromiumAvailable, launchBrowser } from "./support/browser.ts";
import {
  confirm,
  DATA_ELEMENT,
  DATA_SET,
  goto,
  settled,
  signIn,
  startConsoleGateway,
} from "./support/console.ts";
import { PG_URL } from "./support/pg.ts";

const HEADER = "code,what,name,dataset,dataelement,category_option_combo,source_name";
const GOOD_CSV = `${HEADER}\r\nANC1,de,ANC 1st visit,${DATA_SET},${DATA_ELEMENT},,default\r\n` +
  `MAL_M,de,Malaria cases male,${DATA_SET},deMalCases1,cocMale0001,default\r\n`;
const BAD_CSV = `${HEADER}\r\nANC1,de,ANC 1st visit,${DATA_SET},not-a-uid,,default\r\n` +
  `MAL_M,xx,Malaria cases male,${DATA_SET},deMalCases1,cocMale0001,default\r\n`;

async function upload(page: Page, name: string, text: string) {
  await page.getByLabel("File (.csv, .xlsx, .xls)").setInputFiles({
    name,
    mimeType: "text/csv",
    buffer: Buffer.from(text, "utf-8"),
  });
  await page.getByRole("button", { name: "Check file (dry run)" }).click();
}

Deno.test({
  name: "console Mappings, Users, Status, session and viewer pages in chromium, offline",
  ignore: !PG_URL || !(await chromiumAvailable()),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const g = await startConsoleGateway("admin_browser_manage");
    const base = g.base;
    let browser: Browser | undefined;
    try {
      const delivered = await g.submit("202601", 21);
      await g.until(delivered, "delivered");
      browser = await launchBrowser();
      const { page } = browser;
      await signIn(page, base, "admin", g.passwords.admin);

      await t.step("import a mapping file: problems, then a dry run, then apply", async () => {
        await goto(page, `${base}/admin/mappings`);
        await upload(page, "broken.csv", BAD_CSV);
        const report = page.locator("#import-report");
        await report.locator(".alert.error").waitFor();
        const text = await report.innerText();
        assert.match(text, /broken\.csv: 2 problems; nothing was changed/);
        assert.match(text, /dataelement\s+not-a-uid/);
        await browser!.screenshot("mappings-problems");

        await upload(page, "mappings.csv", GOOD_CSV);
        await report.locator("[data-dry-run-summary]").waitFor();
        assert.match(
          await report.innerText(),
          /Dry run of mappings\.csv \(upsert\): 2 to create, 0 to update, 0 unchanged, 0 to delete/,
        );
        assert.equal((await g.api("GET", "/mappings", g.tokens.admin)).total, 0);
        await browser!.screenshot("mappings-dry-run");

        await page.getByRole("button", { name: "Apply this import" }).click();
        await confirm(page, /Apply mappings\.csv \(upsert\): 2 to create/);
        await report.getByText("Imported mappings.csv (upsert): 2 created").waitFor();
        await settled(page);
        assert.equal(await page.locator("table tbody tr").count(), 2);
        assert.equal((await g.api("GET", "/mappings", g.tokens.admin)).total, 2);
        await page.getByLabel("Code").fill("MAL_M");
        await page.getByRole("button", { name: "Apply filters" }).click();
        await page.waitForURL(/code=MAL_M/);
        await settled(page);
        assert.equal(await page.locator("table tbody tr").count(), 1);
        const download = page.waitForEvent("download");
        await page.getByRole("button", { name: "Export CSV" }).click();
        const file = await download;
        assert.equal(file.suggestedFilename().endsWith(".csv"), true);
        const exported = await Deno.readTextFile(await file.path());
        assert.match(exported, /MAL_M/);
        assert.doesNotMatch(exported, /ANC1/, "the export follows the filters");
        await browser!.screenshot("mappings");
      });

      await t.step("users: create one, give a user an API token (shown once)", async () => {
        await goto(page, `${base}/admin/users`);
        await page.getByLabel("Username", { exact: true }).last().fill("dataclerk");
        await page.getByLabel("Password (10+ characters)").fill(`pw-${crypto.randomUUID()}`);
        await page.getByLabel("Role", { exact: true }).last().selectOption("viewer");
        await page.getByRole("button", { name: "Create user" }).click();
        await page.locator("[data-report] .alert.ok").waitFor();
        assert.match(await page.locator("[data-report]").innerText(), /Created user dataclerk/);
        await settled(page);
        const clerk = page.locator("tbody tr", { hasText: "dataclerk" });
        await clerk.getByRole("button", { name: "Deactivate" }).click();
        await confirm(page, /Deactivate dataclerk\?/);
        await page.locator("[data-report]", { hasText: "Deactivated dataclerk" }).waitFor();
        await settled(page);
        await clerk.getByText("deactivated").waitFor();
        await browser!.screenshot("users");

        const bridge = page.locator("tbody tr", { hasText: "hmis_bridge" });
        await bridge.getByRole("link", { name: "API tokens" }).click();
        await page.waitForURL(/\/admin\/users\/\w+\/tokens$/);
        await settled(page);
        await page.getByLabel("Name", { exact: true }).fill("HMIS bridge");
        await page.getByRole("button", { name: "Create token" }).click();
        const secret = await page.locator("#new-token-secret").innerText();
        assert.match(secret, /^d2gw_/);
        const res = await fetch(`${base}/api/v3/logs`, {
          headers: { Authorization: `Token ${secret}` },
        });
        assert.equal(res.status, 200, "the token shown works for its submitter");
        assert.equal((await res.json()).total, 1);
        await browser!.screenshot("user-token-created");
        await page.reload();
        await settled(page);
        assert.equal(await page.getByText(secret).count(), 0, "the secret is shown once");
      });

      await t.step("status: queue, DHIS2 version, breaker and the hourly chart", async () => {
        // A week of history: copies of the delivered submission spread over working hours,
        // with a deterministic mix of outcomes.
        await g.db.sql`
          with copies as (
            insert into submissions (user_uid, username, source_name, request_hash, org_unit,
              period, data_set, kind, request, payload, codes, status, created_at)
            select user_uid, username, source_name, request_hash, org_unit, period, data_set,
              kind, request, payload, codes,
              (case when i % 41 = 0 then 'dead' when i % 23 = 0 then 'rejected'
                    when i % 11 = 0 then 'partial' else 'delivered' end),
              date_trunc('day', now()) - ((i % 7) || ' days')::interval
                + ((7 + (i * 7) % 11) || ' hours')::interval
            from submissions, generate_series(1, 600) i
            where id = ${delivered} and date_trunc('day', now()) - ((i % 7) || ' days')::interval
              + ((7 + (i * 7) % 11) || ' hours')::interval < now()
            returning id, status, created_at
          )
          insert into deliveries (submission_id, kind, ordering_key, status, attempts,
            max_attempts, created_at)
          select id, 'aggregate', 'copy|' || id, status, 1, 1, created_at from copies`;
        const counts = Object.fromEntries(
          (await g.db.sql`select status, count(*)::int as n from submissions group by status`)
            .map((r) => [r.status, r.n]),
        );
        await goto(page, `${base}/admin/status`);
        const main = await page.locator("main").innerText();
        assert.match(main, /reachable/);
        assert.match(main, /version 2\.41/);
        assert.match(main, /Circuit breaker\s+closed/);
        for (const status of ["delivered", "partial", "rejected", "dead"]) {
          assert.equal(
            await page.locator(`[data-count=${status}]`).innerText(),
            String(counts[status] ?? 0),
          );
        }
        assert.ok(await page.locator(".chart svg rect").count() > 20);
        await browser!.screenshot("status");
      });

      await t.step(
        "one sign-in serves every tab (HttpOnly cookie, CSRF); sign-out ends it in all",
        async () => {
          await goto(page, `${base}/admin/submissions`);
          const cookies = await browser!.context.cookies(`${base}/admin`);
          assert.deepEqual(
            cookies.map((c) => [c.name, c.httpOnly, c.sameSite, c.secure, c.path]),
            [["dhis2gw_console", true, "Strict", false, "/admin"]],
          );
          // Nothing for a script to steal: the page keeps no credential of its own.
          assert.equal(await page.evaluate(() => globalThis.sessionStorage.length), 0);
          assert.equal(await page.evaluate(() => globalThis.localStorage.length), 0);

          // A second tab is signed in already.
          const tab = await browser!.context.newPage();
          await goto(tab, `${base}/admin/status`);
          assert.equal(await tab.locator("[data-whoami]").innerText(), "admin (admin)");

          // A write without the CSRF token (what a page elsewhere could send) is refused.
          const forged = await page.evaluate(async () => {
            const res = await fetch("/admin/f/submissions/purge", { method: "POST" });
            return res.status;
          });
          assert.equal(forged, 403);

          await page.getByRole("button", { name: "Sign out" }).click();
          await page.waitForURL(/\/admin\/login\?message=/);
          await page.getByText("You are signed out.").waitFor();
          assert.deepEqual(await browser!.context.cookies(`${base}/admin`), []);
          await tab.reload();
          await tab.waitForURL(/\/admin\/login\?next=%2Fadmin%2Fstatus/);
          await tab.close();
          await page.goto(`${base}/admin/status`);
          await page.waitForURL(/\/admin\/login\?next=%2Fadmin%2Fstatus/);
          await browser!.screenshot("login");
        },
      );

      await t.step("a viewer sees no write action, and the API refuses one anyway", async () => {
        await signIn(page, base, "viewer1", g.passwords.viewer);
        assert.equal(await page.locator("[data-whoami]").innerText(), "viewer1 (viewer)");
        assert.equal(await page.getByRole("link", { name: "Users" }).isVisible(), false);
        for (
          const path of [
            "/admin/submissions",
            `/admin/submissions/${delivered}`,
            "/admin/mappings",
            "/admin/status",
          ]
        ) {
          await goto(page, `${base}${path}`);
          assert.equal(await page.locator("[data-action]").count(), 0, path);
          assert.equal(await page.locator("input[type=file], input[name=id]").count(), 0, path);
        }
        // The audit trail is for admins: a viewer who opens it gets no button that would fail.
        await goto(page, `${base}/admin/audit`);
        assert.match(await page.locator("main").innerText(), /The audit trail is for admins\./);
        assert.equal(await page.getByRole("button", { name: "Export as CSV" }).isVisible(), false);
        await goto(page, `${base}/admin/submissions`);
        await browser!.screenshot("viewer-submissions");
        const res = await fetch(`${base}/api/v3/logs/${delivered}/requeue`, {
          method: "POST",
          headers: { Authorization: `Bearer ${g.tokens.viewer}` },
        });
        assert.equal(res.status, 403);
        await res.body?.cancel();
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
