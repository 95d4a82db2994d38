/**
 * The `geometry` of a tracked entity, enrollment or event: DHIS2 reads it as GeoJSON with
 * Jackson's JTS module, and one it cannot read fails the whole request with a 400, after the
 * gateway stored it. So it is checked at intake, where the caller still hears which field.
 */

/** GeoJSON geometry types and how deep their coordinates nest around a position. */
const DEPTH: Record<string, number> = {
  Point: 0,
  MultiPoint: 1,
  LineString: 1,
  MultiLineString: 2,
  Polygon: 2,
  MultiPolygon: 3,
};

function isPosition(v: unknown): boolean {
  return Array.isArray(v) && (v.length === 2 || v.length === 3) &&
    v.every((n) => typeof n === "number" && Number.isFinite(n));
}

function nested(v: unknown, depth: number): boolean {
  if (depth === 0) return isPosition(v);
  return Array.isArray(v) && v.length > 0 && v.every((x) => nested(x, depth - 1));
}

/** Why `v` is no geometry DHIS2 can read, or null (absent and null are fine: no geometry). */
export function geometryProblem(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) {
    return "must be a GeoJSON geometry object ({type, coordinates}) or null";
  }
  const g = v as { type?: unknown; coordinates?: unknown };
  const depth = typeof g.type === "string" && Object.hasOwn(DEPTH, g.type)
    ? DEPTH[g.type]
    : undefined;
  if (depth === undefined) return `type must be one of ${Object.keys(DEPTH).join(", ")}`;
  if (nested(g.coordinates, depth)) return null;
  return depth === 0
    ? `coordinates of a Point must be a position [longitude, latitude] of finite numbers`
    : `coordinates of a ${g.type} must be arrays nested ${depth + 1} deep around positions ` +
      `[longitude, latitude] of finite numbers`;
}
