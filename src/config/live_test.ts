import assert from "node:assert/strict";
import { loadConfig } from "./config.ts";
import { LiveConfig } from "./live.ts";

const load = (env: Record<string, string>) => {
  const r = loadConfig({ env });
  assert.ok(r.config, r.problems.join("; "));
  return r.config!;
};

Deno.test("a reload applies live keys through the view and holds back the rest", () => {
  const live = new LiveConfig(load({ DHIS2GW_DHIS2_PASSWORD: "old-password" }));
  const view = live.view;
  const apiBefore = view.api;
  assert.equal(view.api.dhis2_password, "old-password");
  const r = live.apply(load({
    DHIS2GW_DHIS2_PASSWORD: "new-password",
    DHIS2GW_LOG_LEVEL: "debug",
    DHIS2GW_SERVER_PORT: "9999",
    DHIS2GW_DB: "postgres://gw@db/gw",
  }));
  assert.deepEqual(r, {
    applied: ["server.log_level", "api.dhis2_password"],
    restartNeeded: ["database.uri", "server.port"],
  });
  assert.equal(view.api.dhis2_password, "new-password");
  assert.equal(view.server.log_level, "debug");
  assert.equal(view.server.port, 9090, "the running port stays");
  assert.equal(view.database.uri, "", "the running database stays");
  assert.notEqual(view.api, apiBefore, "a new section object: readers can tell it changed");
  assert.ok(Object.isFrozen(view.api));
  // Nothing changed: nothing to do, the same objects.
  const same = view.api;
  assert.deepEqual(live.apply(live.current), { applied: [], restartNeeded: [] });
  assert.equal(view.api, same);
});
