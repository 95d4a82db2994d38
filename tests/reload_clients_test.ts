/**
 * A reload (SIGHUP) that rotates `default`'s api.* credentials reaches every DHIS2 client the
 * gateway holds, not only the aggregate delivery client (reload_test.ts): the tracker delivery
 * client, both dry-run clients and the console's metadata names were built once with the
 * credentials of the start and kept sending the revoked PAT until a restart (tracker
 * deliveries retried with a credential alarm). Each client is built from the live view, the
 * PAT is rotated and the old one revoked at the simulator, then each makes one request.
 */
import assert from "node:assert/strict";
import { dryRunClient } from "../src/aggregate/dry_run.ts";
import { MetadataNames } from "../src/admin/metadata_names.ts";
import { loadConfig } from "../src/config/config.ts";
import type { Dhis2Result } from "../src/dhis2/client.ts";
import { LiveConfig } from "../src/config/live.ts";
import { generatePat } from "../src/simulator/simulator_auth.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { trackerClientOf } from "../src/tracker/destination.ts";
import { trackerDryRunClient } from "../src/tracker/dry_run.ts";

const status = (r: Dhis2Result) => r.kind === "response" ? r.httpStatus : r.error;

Deno.test("a rotated PAT reaches the tracker, dry-run and console-name clients", async () => {
  const pat1 = generatePat();
  const pat2 = generatePat();
  const sim = await startSimulator({ tokens: [{ token: pat1, username: "admin" }] });
  try {
    const load = (pat: string) => {
      const r = loadConfig({
        env: {
          DHIS2GW_DHIS2_BASE_URL: sim.url,
          DHIS2GW_DHIS2_AUTH_METHOD: "pat",
          DHIS2GW_DHIS2_PAT: pat,
        },
      });
      assert.ok(r.config, r.problems.join("; "));
      return r.config!;
    };
    const live = new LiveConfig(load(pat1));
    const tracker = trackerClientOf(live.view);
    const trackerDry = trackerDryRunClient(live.view)!;
    const aggregateDry = dryRunClient(live.view)!;
    const names = MetadataNames.fromConfig(live.view);

    // Before the rotation every client gets in with the first PAT.
    assert.equal(status(await tracker.jobNotifications("nojob")), 200);

    sim.tokens.push({ token: pat2, username: "admin" });
    assert.deepEqual(live.apply(load(pat2)).applied, ["api.dhis2_pat"]);
    sim.tokens.splice(sim.tokens.findIndex((t) => t.token === pat1), 1);

    const sent = sim.received.length;
    assert.equal(status(await tracker.jobNotifications("nojob")), 200, "tracker delivery");
    assert.equal(status(await trackerDry.jobNotifications("nojob")), 200, "tracker dry run");
    assert.equal(
      status(await aggregateDry.postDataValueSets({ dataValues: [] })),
      200,
      "aggregate dry run",
    );
    await names.load({ orgUnits: ["DiszpKrYNg8"] });
    assert.ok(names.name("orgUnit", "DiszpKrYNg8"), "console metadata names");
    const requests = sim.received.slice(sent);
    assert.ok(requests.length >= 4, `${requests.length} requests`);
    assert.ok(requests.every((r) => r.authScheme === "apitoken"));
  } finally {
    await sim.stop();
  }
});
