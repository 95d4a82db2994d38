import assert from "node:assert/strict";
import { cliActor } from "./command.ts";

Deno.test("a CLI action's actor is the OS account; with no name in the environment, its uid", () => {
  assert.equal(cliActor({ SUDO_USER: "ops", USER: "root" }, () => 0), "cli:ops");
  assert.equal(cliActor({ USER: "ops-oncall" }, () => 0), "cli:ops-oncall");
  assert.equal(cliActor({ LOGNAME: "deploy" }, () => 0), "cli:deploy");
  // A service, cron or a container's exec often sets none of them.
  assert.equal(cliActor({}, () => 0), "cli:uid 0");
  assert.equal(cliActor({ USER: "" }, () => 10001), "cli:uid 10001");
  assert.equal(cliActor({}, () => null), "cli:unknown");
});
