/**
 * The tracker ordering key, set on a delivery at enqueue: deliveries with the same key go one
 * after another (the queue's FIFO per key), so an event for a person waits for the submission
 * that creates that person, and two updates of one person land in the order they came. The key
 * is the person (tracked entity) the submission is about; an event that names only its
 * enrollment is placed with the enrollment's person when an earlier submission told us who that
 * is; an event without a person (event programs) is keyed by itself. Aggregate keys are
 * `orgUnit|period`, so the `te:`/`en:`/`ev:` keys never meet them.
 */
import type { TrackerObject } from "./bundle.ts";

export function trackerOrderingKey(
  objects: readonly TrackerObject[],
  enrollmentOwner: ReadonlyMap<string, string>,
): string {
  for (const o of objects) {
    const te = o.trackedEntity ?? (o.enrollment ? enrollmentOwner.get(o.enrollment) : undefined);
    if (te) return `te:${te}`;
  }
  const en = objects.find((o) => o.enrollment)?.enrollment;
  if (en) return `en:${en}`;
  return `${objects[0]?.type === "EVENT" ? "ev" : "x"}:${objects[0]?.uid ?? ""}`;
}
