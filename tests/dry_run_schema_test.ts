/**
 * The aggregate and tracker dry-run replies share one `dhis2` outcome schema
 * (src/dhis2/dry_run_schema.ts): in the OpenAPI document they differ only in what the
 * conflicts are and aggregate's completeDateOmitted.
 */
import assert from "node:assert/strict";
import { openApiDocument } from "../src/http/docs.ts";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest("the two dry-run replies' dhis2 outcomes differ only where the kinds do", async () => {
  const db = await createTestDb("dry_run_schema");
  const t = await createTestApp(db);
  try {
    const schemas = openApiDocument(t.app).components!.schemas!;
    // deno-lint-ignore no-explicit-any
    const dhis2Of = (name: string) => structuredClone((schemas[name] as any).properties.dhis2);
    const aggregate = dhis2Of("AggregateDryRunReply");
    const tracker = dhis2Of("TrackerDryRunReply");
    assert.match(aggregate.properties.conflicts.description, /the submitted codes behind it/);
    assert.match(tracker.properties.conflicts.description, /path \(in the request\)/);
    assert.deepEqual(aggregate.properties.completeDateOmitted.enum, [true]);
    assert.equal(tracker.properties.completeDateOmitted, undefined);
    delete aggregate.properties.completeDateOmitted;
    for (const s of [aggregate, tracker]) delete s.properties.conflicts.description;
    assert.deepEqual(aggregate, tracker);
    assert.deepEqual(Object.keys(tracker.properties), [
      "status",
      "httpStatus",
      "dhis2Status",
      "counts",
      "conflicts",
      "error",
    ]);
  } finally {
    await t.close();
    await db.close();
  }
});
