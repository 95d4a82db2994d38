import assert from "node:assert/strict";
import { normaliseBundle } from "./bundle.ts";
import { geometryProblem } from "./geometry.ts";

const OU = "DiszpKrYNg8";
const STAGE = "Zj7UnCAulEk";

Deno.test("geometry: GeoJSON a DHIS2 can read, or nothing", () => {
  for (
    const ok of [
      null,
      { type: "Point", coordinates: [-11.4, 7.5] },
      { type: "Point", coordinates: [-11.4, 7.5, 120] },
      { type: "Polygon", coordinates: [[[0, 0], [1, 0], [1, 1], [0, 0]]] },
      { type: "MultiPolygon", coordinates: [[[[0, 0], [1, 0], [1, 1], [0, 0]]]] },
    ]
  ) assert.equal(geometryProblem(ok), null, JSON.stringify(ok));
  const bad: Array<[unknown, string]> = [
    ["x", "must be a GeoJSON geometry object ({type, coordinates}) or null"],
    [
      { type: "Circle", coordinates: [1, 2] },
      "type must be one of Point, MultiPoint, " +
      "LineString, MultiLineString, Polygon, MultiPolygon",
    ],
    [
      { type: "Point", coordinates: [1] },
      "coordinates of a Point must be a position " +
      "[longitude, latitude] of finite numbers",
    ],
    [
      { type: "Point" },
      "coordinates of a Point must be a position [longitude, latitude] " +
      "of finite numbers",
    ],
    [
      { type: "Polygon", coordinates: [[0, 0], [1, 1]] },
      "coordinates of a Polygon must be " +
      "arrays nested 3 deep around positions [longitude, latitude] of finite numbers",
    ],
  ];
  for (const [g, message] of bad) assert.equal(geometryProblem(g), message, JSON.stringify(g));
});

Deno.test("a bad geometry is a 422 field at its JSON path, before DHIS2 refuses the bundle", () => {
  const r = normaliseBundle({
    trackedEntities: [{
      trackedEntityType: "nEenWmSyUEp",
      orgUnit: OU,
      geometry: { type: "Point", coordinates: ["a", 1] },
      enrollments: [{ program: "IpHINAT79UW", orgUnit: OU, enrolledAt: "2024-01-01", geometry: 5 }],
    }],
    events: [
      { programStage: STAGE, orgUnit: OU, occurredAt: "2024-01-01", geometry: "x" },
      {
        programStage: STAGE,
        orgUnit: OU,
        occurredAt: "2024-01-01",
        geometry: { type: "Point", coordinates: [-11.4, 7.5] },
      },
    ],
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.problems.map((p) => p.field), [
    "$.trackedEntities[0].geometry",
    "$.trackedEntities[0].enrollments[0].geometry",
    "$.events[0].geometry",
  ]);
});
