/**
 * GET /metrics of a real gateway (`serve`, PostgreSQL, the DHIS2 simulator) after one delivery,
 * piped into `promtool check metrics`; the alert rules through `promtool check rules` and their
 * unit tests through `promtool test rules`; and the dashboard and rules asked only for metrics
 * the gateway publishes. promtool comes with Debian's `prometheus` package (or DHIS2GW_PROMTOOL
 * names it): without it these tests fail in CI (CI=true) and are skipped elsewhere, naming the
 * package.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { ADMIN, SAMPLE_SUBMISSION, setUpSample } from "../scripts/sample.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { portFrom, startServe } from "./support/cli.ts";
import { createTestDb, PG_SKIP_REASON, PG_URL } from "./support/pg.ts";

const IN_CI = Deno.env.get("CI") === "true";
const MONITORING = new URL("../packaging/monitoring/", import.meta.url).pathname;
const TOKEN = "scrape-" + crypto.randomUUID();
const PROMTOOL = Deno.env.get("DHIS2GW_PROMTOOL") ?? "promtool";

async function findPromtool(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(PROMTOOL, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success ? undefined : "promtool --version failed";
  } catch {
    return "promtool is not installed (Debian/Ubuntu: apt-get install prometheus)";
  }
}
const PROMTOOL_MISSING = await findPromtool();

/** Needs promtool (and PostgreSQL with `pg`): fails in CI without them, skipped elsewhere. */
function promtoolTest(name: string, opts: { pg?: boolean }, fn: () => Promise<void>): void {
  const why = PROMTOOL_MISSING ?? (opts.pg && !PG_URL ? PG_SKIP_REASON : undefined);
  Deno.test({
    name: why && !IN_CI ? `${name} (skipped: ${why})` : name,
    ignore: !!why && !IN_CI,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: why ? () => Promise.reject(new Error(why)) : fn,
  });
}

async function promtool(args: string[], stdin?: string) {
  const child = new Deno.Command(PROMTOOL, {
    args,
    cwd: MONITORING,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

/** Metric names an expression asks for (histogram series by their family's name). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:dhis2gw|process)_[a-z0-9_]+)/g)]
    .map((m) => m[1].replace(/_(bucket|sum|count)$/, ""));
}

promtoolTest("the alert rules pass promtool check rules and their unit tests", {}, async () => {
  const check = await promtool(["check", "rules", "dhis2gw-alerts.yml"]);
  assert.equal(check.code, 0, check.text);
  assert.match(check.text, /SUCCESS: 5 rules found/);
  const test = await promtool(["test", "rules", "dhis2gw-alerts_test.yml"]);
  assert.equal(test.code, 0, test.text);
  assert.match(test.text, /SUCCESS/);
});

Deno.test("the Kubernetes PrometheusRule carries exactly the checked alert rules", async () => {
  const rules = parse(await Deno.readTextFile(`${MONITORING}dhis2gw-alerts.yml`));
  const k8s = parse(
    await Deno.readTextFile(`${MONITORING}../k8s/monitoring/prometheusrule.yaml`),
  );
  assert.equal(k8s.kind, "PrometheusRule");
  assert.deepEqual(k8s.spec.groups, rules.groups);
});

promtoolTest(
  "a real gateway's GET /metrics passes promtool check metrics and counts a delivery",
  { pg: true },
  async () => {
    const db = await createTestDb("metrics_promtool");
    const sim = await startSimulator({ port: 0 });
    const gw = startServe(["serve"], {
      env: {
        DHIS2GW_DB: db.url,
        DHIS2GW_SERVER_PORT: "0",
        DHIS2GW_HOST: "127.0.0.1",
        DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
        DHIS2GW_DHIS2_BASE_URL: sim.url,
        DHIS2GW_DHIS2_USER: "admin",
        DHIS2GW_DHIS2_PASSWORD: "district",
        DHIS2GW_METRICS_TOKEN: TOKEN,
      },
    });
    try {
      const port = portFrom(await gw.waitFor(/"msg":"listening"/, 60_000));
      const base = `http://127.0.0.1:${port}`;
      await gw.waitFor(/"msg":"DHIS2 destination reachable/, 30_000);
      const sample = await setUpSample(`${base}/api/v3`);
      const res = await fetch(`${base}/api/v3/aggregate`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Token ${sample.apiToken}` },
        body: JSON.stringify(SAMPLE_SUBMISSION),
      });
      assert.equal(res.status, 200, await res.text());
      await gw.waitFor(/"msg":"submission delivered"/, 30_000);

      const wrong = await fetch(`${base}/metrics`, { headers: { Authorization: "Bearer nope" } });
      assert.equal(wrong.status, 401);
      await wrong.body?.cancel();
      const scrape = await fetch(`${base}/metrics`, {
        headers: { Authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(scrape.status, 200);
      assert.equal(scrape.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
      const text = await scrape.text();

      const checked = await promtool(["check", "metrics"], text);
      assert.equal(checked.code, 0, checked.text);
      assert.equal(checked.text.trim(), "", "promtool check metrics has nothing to say");

      const lines = new Set(text.split("\n"));
      for (
        const expected of [
          'dhis2gw_submissions_accepted_total{kind="aggregate",source="default"} 1',
          'dhis2gw_deliveries_total{destination="default",outcome="delivered"} 1',
          'dhis2gw_delivery_attempts_total{destination="default",outcome="delivered"} 1',
          'dhis2gw_dhis2_request_duration_seconds_count{destination="default"} 1',
          'dhis2gw_batch_deliveries_bucket{destination="default",le="1"} 1',
          'dhis2gw_queue_depth{destination="default",status="queued"} 0',
          'dhis2gw_queue_depth{destination="default",status="running"} 0',
          'dhis2gw_queue_oldest_waiting_age_seconds{destination="default"} 0',
          "dhis2gw_queue_query_success 1",
          'dhis2gw_destination_up{destination="default"} 1',
          'dhis2gw_circuit_breaker_state{destination="default",state="closed"} 1',
          'dhis2gw_circuit_breaker_state{destination="default",state="open"} 0',
          'dhis2gw_http_requests_total{method="POST",route="/api/v3/aggregate",status="200"} 1',
          'dhis2gw_http_requests_total{method="GET",route="/metrics",status="401"} 1',
        ]
      ) assert.ok(lines.has(expected), `missing ${expected} in:\n${text}`);
      assert.match(text, /^process_resident_memory_bytes \d+$/m);
      // Never a raw path: the mapping import's route, not its URL, and no ids.
      assert.doesNotMatch(text, /route="[^"]*\/\d+"/);

      // The dashboard and the rules ask only for what the gateway publishes.
      const published = new Set(
        [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]),
      );
      const dashboard = await Deno.readTextFile(`${MONITORING}dhis2gw-dashboard.json`);
      const rules = await Deno.readTextFile(`${MONITORING}dhis2gw-alerts.yml`);
      const asked = new Set([
        ...metricNames(dashboard),
        ...metricNames(rules),
      ]);
      assert.deepEqual([...asked].filter((n) => !published.has(n)), []);
      assert.ok(asked.size >= 15, `only ${asked.size} metrics used`);

      // The scrape token is a secret: never in a log line.
      assert.equal(gw.lines.filter((l) => l.includes(TOKEN)).length, 0);
    } finally {
      assert.equal((await gw.stop()).code, 0);
      await sim.stop();
      await db.close();
    }
  },
);
