import assert from "node:assert/strict";
import { fillHours, HourlyChart, niceMax } from "./chart.tsx";

Deno.test("niceMax rounds up to 1, 2 or 5 times a power of ten", () => {
  const cases: [number, number][] = [
    [0, 1],
    [1, 1],
    [2, 2],
    [3, 5],
    [7, 10],
    [10, 10],
    [11, 20],
    [199, 200],
    [201, 500],
    [5001, 10000],
  ];
  for (const [n, want] of cases) assert.equal(niceMax(n), want, `niceMax(${n})`);
});

Deno.test("fillHours gives a continuous 168-hour axis ending at the current hour", () => {
  const now = new Date("2026-05-04T10:37:00Z");
  const filled = fillHours([{ hour: "2026-05-04T09:00:00Z", counts: { delivered: 3 } }], now);
  assert.equal(filled.length, 168);
  assert.equal(filled[167].hour, "2026-05-04T10:00:00.000Z");
  assert.equal(filled[0].hour, "2026-04-27T11:00:00.000Z");
  assert.deepEqual(filled[166].counts, { delivered: 3 });
  assert.deepEqual(filled[165].counts, {});
});

Deno.test("the chart draws one rect per non-zero outcome and hour, and states the totals", () => {
  const buckets = fillHours([
    { hour: "2026-05-04T09:00:00Z", counts: { delivered: 3, dead: 1 } },
    { hour: "2026-05-03T00:00:00Z", counts: { partial: 2 } },
  ], new Date("2026-05-04T10:00:00Z"));
  const svg = String(HourlyChart({ buckets, timeZone: "UTC" }));
  const [hourly, daily] = svg.split('class="chart-narrow"');
  assert.equal(hourly.match(/<rect /g)?.length, 3);
  // The phone's chart: one bar per day, one rect per non-zero outcome (3 May: 2; 4 May: 3 + 1).
  assert.equal(daily.match(/<rect /g)?.length, 3);
  assert.match(daily, /Sun 3: 2 partial/);
  assert.match(daily, /Mon 4: 3 delivered/);
  assert.match(
    svg,
    /Totals: 3 delivered, 2 partial, 0 rejected, 1 dead, 0 waiting\. Highest hour: 4\./,
  );
  assert.match(svg, /Sun 3 May/); // a day label at UTC midnight
  assert.doesNotMatch(svg, /NaN/);
});

Deno.test("today's day label near the right edge is drawn flush right, inside the chart", () => {
  // Local midnight two hours before the end: its label would run past the right edge.
  const buckets = fillHours([], new Date("2026-05-04T01:30:00Z"));
  const svg = String(HourlyChart({ buckets, timeZone: "UTC" }));
  assert.match(svg, /<text x="952" y="248" text-anchor="end"[^>]*>Mon 4 May<\/text>/);
  // Earlier days keep their label right of the midnight line.
  assert.match(svg, /<text x="[\d.]+" y="248" font-size="11" fill="#394656">Sun 3 May<\/text>/);
});
