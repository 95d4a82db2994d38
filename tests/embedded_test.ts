import assert from "node:assert/strict";
import { PGlite } from "@electric-sql/pglite";
import { portFrom, runCli, startServe } from "./support/cli.ts";

const ENV = { DHIS2GW_SERVER_PORT: "0", DHIS2GW_HOST: "127.0.0.1", DHIS2GW_SHUTDOWN_GRACE: "3" };

Deno.test({
  name: "embedded default: serves, refuses a second process, stops cleanly on SIGTERM, keeps data",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "dhis2gw-embedded-" });
    const env = { ...ENV, DHIS2GW_DATA_DIR: `${dir}/data` };
    try {
      const first = startServe(["serve"], { env });
      const listening = await first.waitFor(/"msg":"listening"/, 60_000);
      assert.ok(
        first.lines.some((l) => /using the embedded database in .*DHIS2GW_DB=/.test(l)),
        "one log line says it is embedded and how to switch",
      );
      const base = `http://127.0.0.1:${portFrom(listening)}`;
      const ready = await fetch(`${base}/ready`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { status: "ready" });
      const miss = await fetch(`${base}/api/v2/embedded-marker`, {
        headers: { "X-Request-Id": "marker-1" },
      });
      await miss.body?.cancel();

      const second = await runCli(["serve"], { env });
      assert.equal(second.code, 1);
      assert.match(
        second.stderr,
        /data folder .* is in use by another dhis2gw process \(pid \d+\)/,
      );

      const t0 = performance.now();
      const status = await first.stop("SIGTERM");
      assert.equal(status.code, 0);
      assert.ok(performance.now() - t0 < 5000, "exits within 5 s");

      // Restart: the same data, no migration applied again.
      const again = startServe(["serve"], { env });
      const l2 = await again.waitFor(/"msg":"listening"/, 60_000);
      assert.ok(!again.lines.some((l) => l.includes("applied migration")));
      const r2 = await fetch(`http://127.0.0.1:${portFrom(l2)}/ready`);
      assert.equal(r2.status, 200);
      await r2.body?.cancel();
      assert.equal((await again.stop("SIGINT")).code, 0);

      // The folder opens cleanly and holds what the first run wrote (the buffered request log).
      const db = await PGlite.create({ dataDir: `${dir}/data/pg` });
      const rows = await db.query<{ status: number }>(
        "select status from request_log where request_id = 'marker-1'",
      );
      await db.close();
      // /api/v2 authenticates before routing, so the unknown path is a 401 in the audit log.
      assert.deepEqual(rows.rows, [{ status: 401 }]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
