/**
 * The embedded PostgreSQL listens on a Unix socket that is gone while its supervisor restarts
 * it. A connect in that window fails with `connect ENOENT <socket>`: the database is
 * unavailable (503 with Retry-After), not a bug (500). Found by the chaos suite: 9 of 2,000
 * submissions got 500 while the embedded server restarted.
 */
import assert from "node:assert/strict";
import { connect, isDatabaseUnavailable } from "../src/db/db.ts";
import { captureLogger } from "../src/logs/logger.ts";

Deno.test({
  name: "a missing Unix socket (the embedded server restarting) is 'database unavailable'",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const sql = connect({
      url: "postgres://postgres@localhost/postgres",
      path: `${dir}/.s.PGSQL.5432`,
      max: 1,
      log: captureLogger().log,
    });
    try {
      const err = await sql`select 1`.then(() => undefined, (e) => e);
      assert.match(String(err?.message), /ENOENT/);
      assert.equal(isDatabaseUnavailable(err), true, String(err));
      // Any other missing file stays what it is.
      assert.equal(isDatabaseUnavailable(new Deno.errors.NotFound("no such file")), false);
      const nf = await Deno.readTextFile(`${dir}/nothing`).catch((e) => e);
      assert.equal(isDatabaseUnavailable(nf), false);
    } finally {
      await sql.end({ timeout: 0 });
      await Deno.remove(dir, { recursive: true });
    }
  },
});
