import assert from "node:assert/strict";
import { Registry } from "./registry.ts";

Deno.test("the registry renders counters, gauges and histograms in the text format", () => {
  const r = new Registry();
  const c = r.counter("x_requests_total", "Requests.\nSecond line \\ backslash.", ["route"]);
  c.inc({ route: "/a" });
  c.inc({ route: "/a" }, 2);
  c.inc({ route: 'say "hi"\n\\' });
  r.gauge("x_up", "Up.").set({}, 1);
  const h = r.histogram("x_duration_seconds", "Duration.", ["d"], [1, 0.5]);
  h.observe({ d: "a" }, 0.2);
  h.observe({ d: "a" }, 0.7);
  h.observe({ d: "a" }, 3);
  assert.equal(
    r.render(),
    [
      "# HELP x_requests_total Requests.\\nSecond line \\\\ backslash.",
      "# TYPE x_requests_total counter",
      'x_requests_total{route="/a"} 3',
      'x_requests_total{route="say \\"hi\\"\\n\\\\"} 1',
      "# HELP x_up Up.",
      "# TYPE x_up gauge",
      "x_up 1",
      "# HELP x_duration_seconds Duration.",
      "# TYPE x_duration_seconds histogram",
      'x_duration_seconds_bucket{d="a",le="0.5"} 1',
      'x_duration_seconds_bucket{d="a",le="1"} 2',
      'x_duration_seconds_bucket{d="a",le="+Inf"} 3',
      'x_duration_seconds_sum{d="a"} 3.9',
      'x_duration_seconds_count{d="a"} 3',
      "",
    ].join("\n"),
  );
  assert.equal(c.get({ route: "/a" }), 3);
  assert.equal(h.count({ d: "a" }), 3);
});

Deno.test("the registry refuses what Prometheus would reject", () => {
  const r = new Registry();
  assert.throws(() => r.counter("bad-name", "x"), /bad metric name/);
  assert.throws(() => r.counter("ok_total", "x", ["le"]), /bad label name le/);
  r.counter("twice_total", "x");
  assert.throws(() => r.counter("twice_total", "x"), /registered twice/);
  const c = r.counter("c_total", "x", ["a"]);
  assert.throws(() => c.inc({}), /label a missing/);
  assert.throws(() => c.inc({ a: "1" }, -1), /only goes up/);
  assert.throws(() => r.histogram("h_seconds", "x", [], [1, 1]), /distinct/);
});
