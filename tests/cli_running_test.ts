import assert from "node:assert/strict";
import { portFrom, runCli, startServe } from "./support/cli.ts";

Deno.test({
  name: "embedded: user commands work while the gateway runs (its database server is shared)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "dhis2gw-cli-running-" });
    await Deno.chmod(dir, 0o755);
    const env = {
      DHIS2GW_SERVER_PORT: "0",
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_SHUTDOWN_GRACE: "3",
      DHIS2GW_DATA_DIR: `${dir}/data`,
      DHIS2GW_ADMIN_PASSWORD: "First-Gateway-Pass-2026",
    };
    const gw = startServe(["serve"], { env });
    try {
      const base = `http://127.0.0.1:${portFrom(await gw.waitFor(/"msg":"listening"/, 60_000))}`;
      const basic = (pw: string) => ({ Authorization: `Basic ${btoa(`admin:${pw}`)}` });

      const reset = await runCli(
        ["user", "reset-password", "--username", "admin", "--password-stdin"],
        { env: { ...env, USER: "ops-oncall" }, stdin: "Second-Gateway-Pass-2026\n" },
      );
      assert.equal(reset.code, 0, reset.stderr);
      const list = await runCli(["user", "list"], { env });
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /admin/);

      // The running gateway sees the change at once: the new password works, the old does not.
      const now = await fetch(`${base}/api/v3/logs?page_size=1`, {
        headers: basic("Second-Gateway-Pass-2026"),
      });
      assert.equal(now.status, 200);
      await now.body?.cancel();
      const old = await fetch(`${base}/api/v3/logs?page_size=1`, {
        headers: basic("First-Gateway-Pass-2026"),
      });
      assert.equal(old.status, 401);
      await old.body?.cancel();
      assert.equal(gw.child.pid > 0, true);
      // The CLI's change is in the audit trail, as the OS account that ran it.
      const audit = await fetch(`${base}/api/v3/audit?action=user.`, {
        headers: basic("Second-Gateway-Pass-2026"),
      });
      const { items } = await audit.json();
      assert.deepEqual(
        items.map((i: Record<string, unknown>) => [i.actor_username, i.via, i.action]),
        [["cli:ops-oncall", "cli", "user.reset_password"]],
      );
      const ready = await fetch(`${base}/ready`);
      assert.equal(ready.status, 200);
      await ready.body?.cancel();
    } finally {
      const status = await gw.stop("SIGTERM");
      assert.equal(status.code, 0, gw.lines.slice(-8).join("\n"));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
