/**
 * TrackerMappingCache on its own: a change it was not told about (another replica, SQL) is
 * seen once its snapshot is mappings.cache_refresh old; past maxRows nothing is held and each
 * look-up reads the database, answering exactly what the snapshot would have.
 */
import assert from "node:assert/strict";
import { connect } from "../src/db/db.ts";
import { TrackerMappingCache, type TrackerMappingWanted } from "../src/tracker/mapping_cache.ts";
import { upsertTrackerMappings } from "../src/tracker/mappings.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const WANTED: TrackerMappingWanted = [
  { kind: "program", scope: "", code: "MAL" },
  { kind: "stage", scope: "eBAyeGv0exc", code: "CASE" },
  { kind: "program", scope: "", code: "UNMAPPED" },
];

async function seed(sql: Parameters<typeof upsertTrackerMappings>[0]) {
  await upsertTrackerMappings(sql, [
    { source_name: "default", kind: "program", scope: "", code: "MAL", uid: "eBAyeGv0exc" },
    {
      source_name: "default",
      kind: "stage",
      scope: "eBAyeGv0exc",
      code: "CASE",
      uid: "Zj7UnCAulEk",
    },
    { source_name: "hmis", kind: "program", scope: "", code: "MAL", uid: "IpHINAT79UW" },
  ]);
}

dbTest("a change made elsewhere is seen once the snapshot is refreshSeconds old", async () => {
  const db = await createTestDb("tr_cache_ttl");
  let reads = 0;
  const counted = connect({
    url: db.url,
    max: 2,
    onQuery: (s) => /from tracker_mappings/i.test(s) && reads++,
  });
  try {
    await seed(db.sql);
    let now = 1_000_000;
    const cache = new TrackerMappingCache(counted, { refreshSeconds: 5, now: () => now });
    const expected = new Map([["program||MAL", "eBAyeGv0exc"], [
      "stage|eBAyeGv0exc|CASE",
      "Zj7UnCAulEk",
    ]]);
    assert.deepEqual(await cache.lookup("default", WANTED), expected);
    assert.deepEqual(
      await cache.lookup("hmis", WANTED),
      new Map([["program||MAL", "IpHINAT79UW"]]),
    );
    assert.deepEqual(await cache.lookup("nobody", WANTED), new Map());
    assert.equal(reads, 1);
    // Another replica changes a mapping: not seen within the refresh interval...
    await db.sql`update tracker_mappings set uid = 'A03MvHHogjR' where code = 'CASE'`;
    now += 4_999;
    assert.deepEqual(await cache.lookup("default", WANTED), expected);
    assert.equal(reads, 1);
    // ...and seen after it, with one reload shared by concurrent look-ups.
    now += 1;
    const both = await Promise.all([
      cache.lookup("default", WANTED),
      cache.lookup("default", WANTED),
    ]);
    for (const m of both) assert.equal(m.get("stage|eBAyeGv0exc|CASE"), "A03MvHHogjR");
    assert.equal(reads, 2);
    // invalidate(): the next look-up reloads whatever the clock says.
    await db.sql`update tracker_mappings set uid = 'ZzYYXq4fJie' where code = 'CASE'`;
    cache.invalidate();
    assert.equal(
      (await cache.lookup("default", WANTED)).get("stage|eBAyeGv0exc|CASE"),
      "ZzYYXq4fJie",
    );
    assert.equal(reads, 3);
  } finally {
    await counted.end();
    await db.close();
  }
});

dbTest("past maxRows nothing is held and every look-up reads the database", async () => {
  const db = await createTestDb("tr_cache_cap");
  let reads = 0;
  const counted = connect({
    url: db.url,
    max: 2,
    onQuery: (s) => /from tracker_mappings/i.test(s) && reads++,
  });
  try {
    await seed(db.sql);
    const held = new TrackerMappingCache(counted, { maxRows: 3 });
    const direct = new TrackerMappingCache(counted, { maxRows: 2 });
    for (const source of ["default", "hmis", "nobody"]) {
      assert.deepEqual(await direct.lookup(source, WANTED), await held.lookup(source, WANTED));
    }
    // held: one load. direct: its load (which found 3 > 2 rows), then a read per look-up.
    assert.equal(reads, 1 + 1 + 3);
  } finally {
    await counted.end();
    await db.close();
  }
});
