/**
 * The production Deployment's replicas for real, on this machine: three gateway processes
 * started as its pods start them (the container's command and args, its env with the Secrets'
 * values filled in, the ConfigMap's file as --config) on one PostgreSQL database, all at the same
 * moment on an empty database. Submissions are spread over the three; one replica is stopped
 * with SIGTERM half-way, as Kubernetes stops a pod (its in-flight work drains; a client whose
 * request it refused retries on another replica with the same idempotency key, as the
 * VirtualService's retries do); every submission reaches the DHIS2 simulator exactly once.
 *
 * DHIS2GW_K8S_REPLICA_SUBMISSIONS sets the number of submissions (3,000 by default, CI's size).
 */
import assert from "node:assert/strict";
import { ADMIN, SAMPLE_SUBMISSION, setUpSample } from "../scripts/sample.ts";
import { loadMigrations } from "../src/db/migrate.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { portFrom, type ServeProcess, startServe } from "./support/cli.ts";
import { findObject, KUBECTL, render } from "./support/k8s_render.ts";
import type { K8sObject } from "./support/k8s_schemas.ts";
import { createTestDb, PG_SKIP_REASON, PG_URL } from "./support/pg.ts";

const N = Number(Deno.env.get("DHIS2GW_K8S_REPLICA_SUBMISSIONS") ?? 3000);
const REPLICAS = 3;
const CLIENTS = 24;
const BINARY = "/usr/bin/dhis2gw";

/** How the pod runs the gateway: its args (config path replaced) and its env, Secrets resolved. */
function asThePodRunsIt(
  container: K8sObject,
  configInPod: string,
  configHere: string,
  secrets: Record<string, string>,
): { args: string[]; env: Record<string, string> } {
  assert.deepEqual(container.command, [BINARY], "the image's binary is started directly");
  const args = (container.args as string[]).map((a) => a === configInPod ? configHere : a);
  const env: Record<string, string> = {};
  for (const e of container.env as K8sObject[]) {
    if (e.value !== undefined) env[e.name] = e.value;
    const ref = e.valueFrom?.secretKeyRef;
    if (!ref) continue;
    const value = secrets[`${ref.name}/${ref.key}`];
    if (value !== undefined) env[e.name] = value;
    else assert.ok(ref.optional, `the test has no value for Secret ${ref.name} key ${ref.key}`);
  }
  return { args, env };
}

const why = PG_URL
  ? (KUBECTL.why && Deno.env.get("CI") !== "true" ? KUBECTL.why : undefined)
  : PG_SKIP_REASON;

Deno.test({
  name: why
    ? `three replicas as the Deployment starts them deliver every submission once (skipped: ${why})`
    : "three replicas as the Deployment starts them deliver every submission once, one stopped with SIGTERM",
  ignore: !!why,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const objects = await render("overlays/production");
    const pod = findObject(objects, "Deployment", "dhis2gw").spec.template.spec;
    const container = pod.containers[0];
    const configInPod = container.args[container.args.indexOf("--config") + 1];
    const cm = findObject(objects, "ConfigMap", "dhis2gw-config");
    const tmp = await Deno.makeTempDir({ prefix: "dhis2gw-k8s-" });
    const configHere = `${tmp}/dhis2gw.yml`;
    await Deno.writeTextFile(configHere, cm.data[configInPod.split("/").pop()!]);

    const db = await createTestDb("k8s_replicas", { migrated: false });
    const sim = await startSimulator({ port: 0 });
    const secrets = {
      "dhis2gw-db-app/uri": db.url,
      "dhis2gw/dhis2-user": "admin",
      "dhis2gw/dhis2-password": "district",
      "dhis2gw/jwt-secret": crypto.randomUUID() + crypto.randomUUID(),
      "dhis2gw/admin-password": ADMIN.password,
    };
    const { args, env } = asThePodRunsIt(container, configInPod, configHere, secrets);
    const dataDirs = Array.from({ length: REPLICAS }, (_, i) => `${tmp}/data-${i}`);
    // What differs from a pod: one host, so each listens on a port of its own on loopback;
    // the emptyDir is a temporary folder; DHIS2 is the simulator.
    const procs: ServeProcess[] = dataDirs.map((dir) => {
      Deno.mkdirSync(dir);
      return startServe(args, {
        env: {
          ...env,
          DHIS2GW_SERVER_PORT: "0",
          DHIS2GW_HOST: "127.0.0.1",
          DHIS2GW_DATA_DIR: dir,
          DHIS2GW_DHIS2_BASE_URL: sim.url,
        },
      });
    });
    const alive = new Set(procs.keys());
    let stopping: Promise<Deno.CommandStatus> | undefined;
    try {
      const ports = await Promise.all(
        procs.map(async (p) => portFrom(await p.waitFor(/"msg":"listening"/, 120_000))),
      );
      const applied = procs.flatMap((p) =>
        p.lines.filter((l) => l.includes('"applied migration"'))
      );
      assert.equal(applied.length, (await loadMigrations()).length, "each migration applied once");
      const api = (i: number) => `http://127.0.0.1:${ports[i]}/api/v3`;
      const sample = await setUpSample(api(0));

      const t0 = performance.now();
      const ids = new Set<number>();
      const intake = Array(REPLICAS).fill(0);
      let retried = 0;
      let next = 0;
      const submit = async (i: number) => {
        for (let attempt = 0, r = i % REPLICAS;; attempt++, r = (r + 1) % REPLICAS) {
          if (!alive.has(r)) continue;
          try {
            const res = await fetch(`${api(r)}/aggregate`, {
              method: "POST",
              headers: {
                "Content-Type": "application/json",
                Authorization: `Token ${sample.apiToken}`,
                "Idempotency-Key": `k8s-${i}`,
              },
              // A period each, as the many facilities and months of a real site: delivery is
              // FIFO per org unit and period, so one shared key would serialise all of them.
              body: JSON.stringify({
                ...SAMPLE_SUBMISSION,
                period: `${1800 + Math.floor(i / 12)}${String(i % 12 + 1).padStart(2, "0")}`,
                dataValues: { ANC1: i },
              }),
            });
            const body = await res.json();
            if (res.status === 200) {
              ids.add(body.submission_id);
              intake[r]++;
              return;
            }
            assert.equal(res.status, 503, JSON.stringify(body));
          } catch (e) {
            if (e instanceof assert.AssertionError) throw e;
          }
          retried++;
          assert.ok(attempt < 10, `submission ${i} refused 10 times`);
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, async () => {
        while (next < N) {
          const i = next++;
          if (i === Math.floor(N / 2)) {
            // Kubernetes' part of a pod's stop: endpoints drop it, then SIGTERM.
            alive.delete(REPLICAS - 1);
            stopping = procs[REPLICAS - 1].stop("SIGTERM");
          }
          await submit(i);
        }
      }));
      const acceptedSeconds = (performance.now() - t0) / 1000;

      const deadline = Date.now() + 300_000;
      for (;;) {
        const [r] = await db.sql`
          select count(*) filter (where status = 'delivered')::int as delivered,
                 count(*)::int as total from submissions`;
        if (r.delivered === r.total && r.total >= ids.size) break;
        assert.ok(Date.now() < deadline, `only ${r.delivered} of ${r.total} delivered`);
        await new Promise((res) => setTimeout(res, 200));
      }
      const seconds = (performance.now() - t0) / 1000;
      const posts = new Map<string, number>();
      for (const req of sim.received.filter((r) => r.path === "/api/dataValueSets")) {
        // A batched import carries several submissions: each one's value marks it.
        const values = (req.body as { dataValues: Array<{ value: string }> }).dataValues;
        for (const value of new Set(values.map((v) => v.value))) {
          posts.set(value, (posts.get(value) ?? 0) + 1);
        }
      }
      const twice = [...posts.values()].filter((n) => n > 1).length;
      const workers = await db.sql`select distinct worker from delivery_attempts`;
      console.log(
        `k8s replicas: ${REPLICAS} gateways started as the Deployment starts them; accepted ${ids.size}, delivered ${posts.size}, delivered twice ${twice}; ${
          acceptedSeconds.toFixed(1)
        } s to accept, ${seconds.toFixed(1)} s to deliver all; intake per replica ${
          intake.join("/")
        } (replica ${REPLICAS} stopped with SIGTERM after ${
          Math.floor(N / 2)
        }), ${retried} requests retried on another replica`,
      );
      assert.equal(ids.size, N, "every submission accepted once");
      assert.equal(posts.size, N, "every submission delivered");
      assert.equal(twice, 0, "no submission delivered twice");
      assert.ok(intake.every((n) => n > 0), `intake ${intake}`);
      assert.equal(workers.length, REPLICAS, "every replica's worker delivered");
      assert.equal((await stopping)?.code, 0, "the stopped replica drained and exited 0");
    } finally {
      for (const i of alive) assert.equal((await procs[i].stop()).code, 0);
      await stopping;
      await sim.stop();
      await db.close();
    }
    // With DHIS2GW_DB set nothing is written to the data folder (the pod's emptyDir).
    for (const dir of dataDirs) assert.deepEqual([...Deno.readDirSync(dir)], [], dir);
    await Deno.remove(tmp, { recursive: true });
  },
});
