/**
 * The submission path's mappings cache over a real PostgreSQL: another replica's change is seen
 * within the refresh interval (by polling alone, and at once with LISTEN), this process's own
 * change at once, and steady-state look-ups never touch the database.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { DB_SCHEMA } from "../src/db/schema.ts";
import { connect } from "../src/db/db.ts";
import { MappingCache } from "../src/mappings/cache.ts";
import type { MappingInput } from "../src/mappings/model.ts";
import { insertMapping, mappingVersion } from "../src/mappings/queries.ts";
import { generateUid } from "../src/dhis2/uid.ts";
import { createTestApp } from "./support/app.ts";
import { call, COC_M, DE1, DE2, DS, OU } from "./support/mappings.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

function mapping(fields: Partial<MappingInput>): MappingInput {
  return {
    code: "ANC1",
    what: "de",
    name: "ANC",
    description: "",
    dataSet: "",
    dataElement: DE1,
    categoryOptionCombo: "",
    attributeOptionCombo: "",
    categoryOption: "",
    categoryCombo: "",
    instanceName: "default",
    sourceName: "default",
    sourceOrgUnit: "",
    destinationOrgUnit: "",
    ...fields,
  };
}

/** Reload events of a cache, and a bounded wait for one at or past a version. */
function reloads() {
  const seen: number[] = [];
  const waiters: Array<{ version: number; resolve: () => void }> = [];
  return {
    onReload: ({ version }: { version: number }) => {
      seen.push(version);
      for (const w of waiters.filter((w) => version >= w.version)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    },
    /** Resolves with the milliseconds it took; rejects after `ms`. */
    until(version: number, ms: number): Promise<number> {
      const started = performance.now();
      if (seen.some((v) => v >= version)) return Promise.resolve(0);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no reload to version ${version} in ${ms} ms; saw ${seen}`)),
          ms,
        );
        waiters.push({
          version,
          resolve: () => {
            clearTimeout(timer);
            resolve(performance.now() - started);
          },
        });
      });
    },
  };
}

dbTest(
  "cache: a change made through another pool (replica) is seen within the refresh interval",
  async () => {
    const db = await createTestDb("cache_poll");
    const other = connect({ url: db.url, max: 2 }); // the other replica's pool
    const events = reloads();
    const cache = new MappingCache(db.sql, { refreshSeconds: 1, onReload: events.onReload });
    try {
      await insertMapping(other, generateUid(), mapping({ sourceName: "hmis" }));
      await cache.start();
      assert.deepEqual([...await cache.resolve("hmis", ["ANC1", "NOPE"])], [
        ["ANC1", { dataElement: DE1 }],
      ]);

      await other.begin((tx) =>
        tx`update dhis2_mappings set dataelement = ${DE2}, category_option_combo = ${COC_M}`
      );
      await insertMapping(
        other,
        generateUid(),
        mapping({
          what: "ou",
          code: "NG",
          sourceOrgUnit: "NG",
          destinationOrgUnit: OU,
          sourceName: "hmis",
        }),
      );
      const version = await mappingVersion(other);
      // Polling alone (no LISTEN): one refresh interval, plus a reload, plus scheduling slack.
      const waited = await events.until(version, 1000 + 2000);
      assert.ok(waited <= 3000, `took ${waited} ms`);
      assert.deepEqual(
        await cache.resolve("hmis", ["ANC1"]),
        new Map([
          ["ANC1", { dataElement: DE2, categoryOptionCombo: COC_M }],
        ]),
      );
      assert.equal(await cache.resolveOrgUnit("hmis", "NG"), OU);
      assert.equal(await cache.resolveOrgUnit("default", "NG"), null, "other sources see nothing");
    } finally {
      await cache.stop();
      await other.end();
      await db.close();
    }
  },
);

dbTest(
  "cache: with LISTEN, another replica's change arrives without waiting for the poll",
  async () => {
    const db = await createTestDb("cache_listen");
    const other = connect({ url: db.url, max: 2 });
    const events = reloads();
    // A poll once an hour: only the NOTIFY can bring the change in time.
    const cache = new MappingCache(db.sql, {
      refreshSeconds: 3600,
      listen: true,
      onReload: events.onReload,
    });
    try {
      await cache.start();
      await insertMapping(other, generateUid(), mapping({}));
      await events.until(await mappingVersion(other), 5000);
      assert.equal((await cache.resolve("default", ["ANC1"])).get("ANC1")?.dataElement, DE1);
    } finally {
      await cache.stop();
      await other.end();
      await db.close();
    }
  },
);

dbTest("cache: steady-state look-ups make no database round trip", async () => {
  const db = await createTestDb("cache_steady");
  let queries = 0;
  const counted = postgres(db.url, {
    max: 2,
    debug: () => queries++,
    onnotice: () => {},
    connection: { search_path: DB_SCHEMA },
  });
  const cache = new MappingCache(counted, { refreshSeconds: 3600 });
  try {
    await insertMapping(db.sql, generateUid(), mapping({}));
    await cache.start();
    const before = queries;
    for (let i = 0; i < 10_000; i++) await cache.resolve("default", ["ANC1", "X"]);
    await cache.resolveOrgUnit("default", "X");
    assert.equal(queries, before, "no query after the load");
    // A write in this process (invalidate) makes the next look-up reload once, then none.
    await insertMapping(db.sql, generateUid(), mapping({ code: "B" }));
    cache.invalidate();
    const [a, b] = await Promise.all([
      cache.resolve("default", ["B"]),
      cache.resolve("default", ["B"]),
    ]);
    assert.equal(a.get("B")?.dataElement, DE1);
    assert.equal(b.get("B")?.dataElement, DE1);
    assert.equal(queries, before + 2, "one shared reload: the version and the rows");
  } finally {
    await cache.stop();
    await counted.end();
    await db.close();
  }
});

dbTest("cache: a mapping saved through the API is used by the very next submission", async () => {
  const db = await createTestDb("cache_submit");
  const t = await createTestApp(db);
  try {
    const submit = async () => {
      const res = await t.app.request("/api/v3/aggregate", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...t.users.submitter.headers.token },
        body: JSON.stringify({
          orgUnit: "NGELEHUN",
          period: "202401",
          dataSet: DS,
          dataValues: { ANC1: 5 },
        }),
      });
      return { status: res.status, body: await res.json() };
    };
    const unmapped = await submit();
    assert.equal(unmapped.status, 422);

    const created = await (await call(t, "POST", "/mappings", {
      body: { code: "ANC1", name: "ANC", dataElement: DE1 },
    })).json();
    await call(t, "POST", "/mappings", {
      body: { what: "ou", sourceOrgUnit: "NGELEHUN", destinationOrgUnit: OU },
    });
    const first = await submit();
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.payload.orgUnit, OU);
    assert.deepEqual(first.body.payload.dataValues, [{ dataElement: DE1, value: "5" }]);

    await call(t, "PUT", `/mappings/${created.uid}`, {
      body: { dataElement: DE2, categoryOptionCombo: COC_M },
    });
    const second = await submit();
    assert.deepEqual(second.body.payload.dataValues, [
      { dataElement: DE2, categoryOptionCombo: COC_M, value: "5" },
    ]);
  } finally {
    await t.close();
    await db.close();
  }
});
