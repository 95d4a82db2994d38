import assert from "node:assert/strict";
import { aggregateOrderingKey } from "./ordering_key.ts";

Deno.test("the ordering key writes a period the one way DHIS2 stores it", () => {
  const cases: Array<[string, string]> = [
    ["202401", "202401"],
    ["2024-01", "202401"],
    ["20240105", "20240105"],
    ["2024-01-05", "20240105"],
    ["2024-0105", "20240105"],
    ["2024W1", "2024W1"],
    ["2024W01", "2024W1"],
    ["2024W10", "2024W10"],
    ["2024BiW01", "2024BiW1"],
    ["2024Q1", "2024Q1"],
    ["2024AprilS1", "2024AprilS1"],
  ];
  for (const [period, key] of cases) {
    assert.equal(aggregateOrderingKey("ou1", period), `ou1|${key}`, period);
  }
});
