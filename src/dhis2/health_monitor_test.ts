import assert from "node:assert/strict";
import { captureLogger } from "../logs/logger.ts";
import type { Dhis2Read, SystemInfo } from "./client.ts";
import { classify, HealthMonitor } from "./health_monitor.ts";

const OK: Dhis2Read<SystemInfo> = {
  ok: true,
  value: { version: "2.41.3" } as SystemInfo,
  httpStatus: 200,
  durationMs: 4,
};
const fail = (httpStatus?: number): Dhis2Read<SystemInfo> => ({
  ok: false,
  error: httpStatus ? `HTTP ${httpStatus}` : "connection refused",
  httpStatus,
  timedOut: false,
  durationMs: 2,
});

Deno.test("classify: up, unreachable, credentials refused (401, 403, login redirect), failing", () => {
  assert.deepEqual(
    [OK, fail(), fail(401), fail(403), fail(302), fail(500), fail(404)].map(classify),
    [
      "ok",
      "unreachable",
      "credentials_refused",
      "credentials_refused",
      "credentials_refused",
      "failing",
      "failing",
    ],
  );
});

Deno.test("each change of a destination's health is logged once, at warn after the first", async () => {
  const answers = [OK, OK, fail(401), fail(401), fail(), OK];
  let calls = 0;
  const { log, lines } = captureLogger("debug");
  const versions: unknown[] = [];
  const monitor = new HealthMonitor({
    destinations: [{
      name: "default",
      client: {
        apiUrl: "http://dhis2.test/api",
        getSystemInfo: () => Promise.resolve(answers[calls++]),
      },
    }],
    log,
    onVersion: (_, v) => versions.push(v),
  });
  assert.equal(monitor.snapshot()[0].state, "unknown");
  const states: string[] = [];
  for (let i = 0; i < answers.length; i++) states.push((await monitor.checkAll())[0].state);
  assert.deepEqual(states, [
    "ok",
    "ok",
    "credentials_refused",
    "credentials_refused",
    "unreachable",
    "ok",
  ]);
  const logged = lines.map((l) => JSON.parse(l)).map((l) => [l.level, l.msg, l.previous]);
  assert.deepEqual(logged, [
    ["info", "DHIS2 destination reachable and accepting the gateway's credentials", "unknown"],
    ["warn", "DHIS2 destination refuses the gateway's credentials", "ok"],
    ["warn", "DHIS2 destination unreachable", "credentials_refused"],
    ["warn", "DHIS2 destination recovered", "unreachable"],
  ]);
  assert.deepEqual(versions, ["2.41.3", "2.41.3", "2.41.3"]);
  const s = monitor.snapshot()[0];
  assert.equal(s.version, "2.41.3");
  assert.equal(s.error, null);
});

Deno.test("a first check that fails is a warn; concurrent checks share one request", async () => {
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const { log, lines } = captureLogger("debug");
  const monitor = new HealthMonitor({
    destinations: [{
      name: "default",
      client: {
        apiUrl: "http://dhis2.test/api",
        getSystemInfo: async () => {
          calls++;
          await gate;
          return fail(503);
        },
      },
    }],
    log,
  });
  const a = monitor.check("default");
  const b = monitor.check("default");
  release();
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(calls, 1);
  assert.equal(ra, rb);
  assert.equal(ra.state, "failing");
  assert.equal(ra.httpStatus, 503);
  const [line] = lines.map((l) => JSON.parse(l));
  assert.equal(lines.length, 1);
  assert.equal(line.level, "warn");
  assert.equal(line.msg, "DHIS2 destination answers with an error");
});
