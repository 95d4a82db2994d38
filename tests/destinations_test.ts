/**
 * Two DHIS2 destinations with a copy, as a site would configure them: `default` from the api.*
 * keys (its block adds `copies`), `training` in `destinations:` with its own instance's
 * mappings and a password from an env var. One submission reaches both simulators, each with
 * its own instance's UIDs; one failing destination leaves the other delivered and itself
 * retrying; a code one instance cannot map is a 422 naming it; requeue can target one delivery;
 * the logs detail and GET /api/v3/status show each destination.
 */
import assert from "node:assert/strict";
import { dhis2Destinations } from "../src/aggregate/destination.ts";
import { createApp } from "../src/http/app.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { CircuitBreakers } from "../src/queue/circuit_breaker.ts";
import { type Delivery, startDelivery } from "../src/queue/runner.ts";
import { Wakeup } from "../src/queue/wakeup.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import type { Sql } from "../src/db/db.ts";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { body } from "./support/submissions.ts";

// deno-lint-ignore no-explicit-any
type Loose = Record<string, any>;

async function deliveries(sql: Sql, id: number): Promise<Loose[]> {
  return await sql<Loose[]>`
    select destination, status, attempts, http_status, payload, requeued_at
    from deliveries where submission_id = ${id} order by id`;
}

/** Polls a database condition (the runner's workers have no attempt hook); 20 s at most. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function mapping(sql: Sql, uid: string, code: string, instance: string, de: string) {
  await sql`
    insert into dhis2_mappings (uid, code, what, dataelement, instance_name, source_name)
    values (${uid}, ${code}, 'de', ${de}, ${instance}, 'default')`;
}

dbTest("two destinations and a copy: both delivered; one failing retries alone", async () => {
  const db = await createTestDb("destinations_e2e");
  const hmis = await startSimulator();
  const training = await startSimulator();
  const fileText = `
api:
  dhis2_base_url: ${hmis.url}
  dhis2_user: admin
  dhis2_password: district
destinations:
  default:
    copies: [training]
  training:
    base_url: ${training.url}
    user: admin
    password_env: TRAINING_DHIS2_PASSWORD
    instance_name: train
    max_concurrent: 2
    breaker:
      failure_threshold: 50
`;
  const t = await createTestApp(db, {
    fileText,
    env: {
      TRAINING_DHIS2_PASSWORD: "district",
      DHIS2GW_RETRY_BACKOFF_BASE: "1",
      DHIS2GW_REQUEST_PROCESS_INTERVAL: "1",
    },
  });
  const wakeup = new Wakeup();
  const app = createApp({ ...t.deps, wakeWorker: () => wakeup.wake() });
  const headers = (as: "admin" | "submitter" = "submitter") => ({
    "Content-Type": "application/json",
    ...t.users[as].headers.token,
  });
  let delivery: Delivery | undefined;
  try {
    // ANC1 goes to a different data element in each instance; MAL_M exists only in default.
    await mapping(db.sql, "mapHmisAnc1", "ANC1", "default", "f7n9E0hX8qk");
    await mapping(db.sql, "mapTrnAnc01", "ANC1", "train", "deWeightKg1");
    await mapping(db.sql, "mapHmisMalM", "MAL_M", "default", "deMalCases1");
    delivery = await startDelivery({
      config: t.config,
      sql: db.sql,
      log: captureLogger("info").log,
      wakeup,
      breakers: new CircuitBreakers(),
      destinations: dhis2Destinations(t.config),
    });
    assert.equal(delivery.workers.length, 2);

    // 1. One submission reaches both simulators, each with its own instance's UIDs.
    const res = await app.request("/api/v3/aggregate", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify(body({ ANC1: 7 })),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const reply = await res.json();
    assert.deepEqual(reply.destinations, ["default", "training"]);
    assert.deepEqual(reply.payload.dataValues, [{ dataElement: "f7n9E0hX8qk", value: "7" }]);
    const first = reply.submission_id as number;
    await until(
      "both deliveries of the first submission",
      async () => (await deliveries(db.sql, first)).every((d) => d.status === "delivered"),
    );
    const [s1] = await db.sql`select status from submissions where id = ${first}`;
    assert.equal(s1.status, "delivered");
    assert.deepEqual(
      hmis.dataValues().map((v) => [v.dataElement, v.value]),
      [["f7n9E0hX8qk", "7"]],
    );
    assert.deepEqual(
      training.dataValues().map((v) => [v.dataElement, v.value]),
      [["deWeightKg1", "7"]],
    );
    const [d1, d2] = await deliveries(db.sql, first);
    assert.equal(d1.payload, null); // the submission's own payload
    assert.deepEqual(d2.payload.dataValues, [{ dataElement: "deWeightKg1", value: "7" }]);

    // 2. training fails: default still delivers, training retries, the submission waits.
    training.injectFaults([
      { path: "/api/dataValueSets", status: 503, body: "maintenance", times: 1000 },
    ]);
    const res2 = await app.request("/api/v3/aggregate", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify(body({ ANC1: 8 }, { period: "202402" })),
    });
    assert.equal(res2.status, 200);
    const second = (await res2.json()).submission_id as number;
    await until("default delivered and training retrying", async () => {
      const [a, b] = await deliveries(db.sql, second);
      return a.status === "delivered" && b.status === "retrying" && b.attempts >= 2;
    });
    const [a, b] = await deliveries(db.sql, second);
    assert.deepEqual([a.destination, a.status, a.http_status], ["default", "delivered", 200]);
    assert.deepEqual([b.destination, b.status, b.http_status], ["training", "retrying", 503]);
    const [s2] = await db.sql`select status from submissions where id = ${second}`;
    assert.equal(s2.status, "retrying");
    assert.ok(hmis.dataValues().some((v) => v.period === "202402" && v.value === "8"));

    // 3. The detail shows each delivery and whose attempt is whose.
    const detail = await (await app.request(`/api/v3/logs/${second}`, {
      headers: headers("admin"),
    })).json();
    assert.deepEqual(
      detail.deliveries.map((d: Loose) => [d.destination, d.status]),
      [["default", "delivered"], ["training", "retrying"]],
    );
    assert.deepEqual(
      [...new Set(detail.attempts_log.map((x: Loose) => x.destination))],
      ["default", "training"],
    );

    // The list filters by a destination's own delivery status and shows every destination.
    const list = await (await app.request(
      "/api/v3/logs?destination=training&status=retrying",
      { headers: headers("admin") },
    )).json();
    assert.deepEqual(list.items.map((x: Loose) => x.id), [second]);
    assert.deepEqual(list.items[0].destinations, [
      { destination: "default", status: "delivered" },
      { destination: "training", status: "retrying" },
    ]);
    const delivered = await (await app.request(
      "/api/v3/logs?destination=default&status=delivered",
      { headers: headers("admin") },
    )).json();
    assert.deepEqual(delivered.items.map((x: Loose) => x.id), [second, first]);

    // 4. The status JSON has both destinations with their health, breaker and queue, and
    // deliveries waiting for a destination the config no longer has.
    await db.sql`
      insert into deliveries (submission_id, destination, kind, ordering_key, max_attempts)
      values (${first}, 'retired', 'aggregate', 'k', 3)`;
    const status = await (await app.request("/api/v3/status", { headers: headers("admin") }))
      .json();
    const byName = Object.fromEntries(status.destinations.map((d: Loose) => [d.name, d]));
    assert.deepEqual(Object.keys(byName), ["default", "training", "retired"]);
    assert.deepEqual([byName.retired.configured, byName.retired.queue.queued], [false, 1]);
    assert.equal(byName.training.configured, true);
    assert.equal(byName.training.url, training.url);
    assert.equal(byName.training.instanceName, "train");
    assert.equal(byName.training.maxConcurrent, 2);
    assert.equal(byName.training.queue.retrying, 1);
    assert.equal(byName.default.queue.retrying, 0);
    assert.deepEqual(byName.default.copies, ["training"]);
    assert.equal(JSON.stringify(status).includes("district"), false);

    // 5. A code the training instance cannot map is refused, naming destination and code.
    const refused = await app.request("/api/v3/aggregate", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify(body({ MAL_M: 1 })),
    });
    assert.equal(refused.status, 422);
    const err = (await refused.json()).error;
    assert.equal(err.message, "unmapped codes: MAL_M (destination training)");
    assert.equal(err.details[0].destination, "training");
    assert.equal(err.details[0].code, "MAL_M");

    // 6. Requeue one delivery: only default's is sent again.
    const rq = await app.request(`/api/v3/logs/${first}/requeue?destination=default`, {
      method: "POST",
      headers: headers("admin"),
    });
    assert.equal(rq.status, 200, await rq.clone().text());
    const [r1, r2] = await deliveries(db.sql, first);
    assert.ok(r1.requeued_at instanceof Date);
    assert.equal(r2.requeued_at, null);
    assert.equal(r2.status, "delivered");
    const none = await app.request(`/api/v3/logs/${first}/requeue?destination=nowhere`, {
      method: "POST",
      headers: headers("admin"),
    });
    assert.equal(none.status, 404);
    assert.match((await none.json()).error.message, /no delivery to destination "nowhere"/);
  } finally {
    await delivery?.stop(5000);
    await t.close();
    await hmis.stop();
    await training.stop();
    await db.close();
  }
});

dbTest("intake checks the period against every destination's DHIS2 version", async () => {
  const db = await createTestDb("destinations_versions");
  const fileText = `
api:
  dhis2_base_url: http://127.0.0.1:9
  dhis2_version: "2.43"
destinations:
  old:
    base_url: http://127.0.0.1:9
    version: "2.40"
sources:
  legacy_app: { destination: default, copies: [old] }
`;
  const t = await createTestApp(db, { fileText });
  const app = createApp({ ...t.deps });
  try {
    await mapping(db.sql, "mapHmisAnc1", "ANC1", "default", "f7n9E0hX8qk");
    await mapping(db.sql, "mapOldAnc01", "ANC1", "old", "f7n9E0hX8qk");
    await db
      .sql`update users set source_name = 'legacy_app' where username = ${t.users.admin.username}`;
    const post = (as: "admin" | "submitter") =>
      app.request("/api/v3/aggregate", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...t.users[as].headers.basic },
        body: JSON.stringify(body({ ANC1: 1 }, { period: "2024SatW53" })),
      });
    // Only `default` (2.43 counts this week 53): accepted.
    assert.equal((await post("submitter")).status, 200);
    // With a copy to a 2.40: refused, that version's reason given.
    const res = await post("admin");
    assert.equal(res.status, 422);
    assert.match((await res.json()).error.message, /refused by DHIS2 2\.38–2\.42/);
  } finally {
    await t.close();
    await db.close();
  }
});
