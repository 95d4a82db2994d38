import assert from "node:assert/strict";
import { runCli } from "./support/cli.ts";

Deno.test("serve on a busy port: one line naming the port, before the data folder or an admin exists", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dhis2gw-busy-" });
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    const r = await runCli(["serve"], {
      env: {
        DHIS2GW_SERVER_PORT: String(port),
        DHIS2GW_HOST: "127.0.0.1",
        DHIS2GW_DATA_DIR: `${dir}/data`,
      },
    });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `dhis2gw serve: port ${port} on 127.0.0.1 is already in use by another program; choose another with --port or DHIS2GW_SERVER_PORT\n`,
    );
    assert.doesNotMatch(r.stdout, /first admin|generated password/i, "no one-time admin password");
    assert.equal(await Deno.stat(`${dir}/data`).then(() => true, () => false), false);
  } finally {
    busy.close();
    await Deno.remove(dir, { recursive: true });
  }
});
