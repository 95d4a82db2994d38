/**
 * SIGHUP reloads the config file into a running gateway (issue 14 item 2): a rotated DHIS2
 * PAT is used from the next request with no delivery lost or retried, the log level changes,
 * a setting that needs a restart is named at warn, and a bad file is refused whole while the
 * running configuration stays. A real `serve` process delivering to the simulator, under load.
 */
import assert from "node:assert/strict";
import { generatePat } from "../src/simulator/simulator_auth.ts";
import { startSimulator } from "../src/simulator/simulator.ts";
import { portFrom, startServe } from "./support/cli.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const ADMIN_PASSWORD = "Reload-Gateway-2026";
const TOTAL = 48;

dbTest("SIGHUP rotates the DHIS2 PAT under load without losing a delivery", async () => {
  const pat1 = generatePat();
  const pat2 = generatePat();
  const sim = await startSimulator({ tokens: [{ token: pat1, username: "admin" }] });
  const db = await createTestDb("reload", { migrated: false });
  const dir = await Deno.makeTempDir({ prefix: "dhis2gw-reload-" });
  const file = `${dir}/dhis2gw.yml`;
  const yaml = (pat: string, extra = "") =>
    `server:\n  log_level: info\n  request_process_interval: 1\n${extra}` +
    `api:\n  dhis2_base_url: ${sim.url}\n  dhis2_auth_method: pat\n  dhis2_pat: ${pat}\n` +
    `  mapping_scheme: UID\n`;
  await Deno.writeTextFile(file, yaml(pat1));
  const gw = startServe(["serve", "--config", file], {
    env: {
      DHIS2GW_DB: db.url,
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_SERVER_PORT: "0",
      DHIS2GW_ADMIN_PASSWORD: ADMIN_PASSWORD,
      DHIS2GW_SHUTDOWN_GRACE: "5",
    },
  });
  try {
    const base = `http://127.0.0.1:${portFrom(await gw.waitFor(/"msg":"listening"/, 60_000))}`;
    const auth = { Authorization: `Basic ${btoa(`admin:${ADMIN_PASSWORD}`)}` };
    const submitted: number[] = [];
    const submit = async (i: number) => {
      const res = await fetch(`${base}/api/v3/aggregate`, {
        method: "POST",
        headers: { ...auth, "Content-Type": "application/json" },
        body: JSON.stringify({
          orgUnit: "DiszpKrYNg8",
          period: `${2020 + Math.floor(i / 12)}${String((i % 12) + 1).padStart(2, "0")}`,
          dataSet: "pBOMPrpg1QX",
          dataValues: { f7n9E0hX8qk: i + 1 },
        }),
      });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      submitted.push(body.submission_id);
    };
    // Load: two clients submitting all along, while the file changes under the gateway.
    let next = 0;
    let stopLoad = false;
    const client = async () => {
      while (next < TOTAL && !stopLoad) await submit(next++);
    };
    const load = Promise.all([client(), client()]);
    // The load stops with the first failure here, so that failure is the one reported.
    load.catch(() => {});
    try {
      const reached = async (n: number) => {
        while (submitted.length < n && next < TOTAL) await new Promise((r) => setTimeout(r, 5));
      };

      // 1. The PAT is rotated: DHIS2 knows both for a moment, the gateway is told, the old one
      // is revoked. The worker pool size needs a restart; the log level does not.
      await reached(12);
      sim.tokens.push({ token: pat2, username: "admin" });
      await Deno.writeTextFile(file, yaml(pat2, "  max_concurrent: 3\n").replace("info", "debug"));
      gw.child.kill("SIGHUP");
      const reloaded = await gw.waitFor(/"msg":"configuration reloaded"/);
      assert.deepEqual(JSON.parse(reloaded).applied, ["server.log_level", "api.dhis2_pat"]);
      assert.ok(
        gw.lines.some((l) =>
          /"level":"warn","msg":"configuration changed but needs a restart to apply"/.test(l) &&
          /"key":"server.max_concurrent"/.test(l)
        ),
      );
      sim.tokens.splice(sim.tokens.findIndex((t) => t.token === pat1), 1);
      await gw.waitFor(/"level":"debug"/);

      // 2. A bad file is refused whole: its new PAT (unknown to DHIS2) is not taken either.
      await reached(30);
      await Deno.writeTextFile(
        file,
        yaml(generatePat(), "  max_retries: lots\n").replace("info", "warn"),
      );
      gw.child.kill("SIGHUP");
      const refused = await gw.waitFor(/configuration reload refused/);
      assert.match(refused, /server\.max_retries/);
    } catch (err) {
      stopLoad = true;
      await load.catch(() => {});
      throw err;
    }
    await load;

    // Every submission delivered at its first attempt: no 401 anywhere.
    for (let i = 0;; i++) {
      const [{ delivered, other }] = await db.sql`
        select count(*) filter (where status = 'delivered' and attempts = 1)::int as delivered,
          count(*) filter (where not (status = 'delivered' and attempts = 1)
            and status not in ('queued', 'running'))::int as other
        from deliveries`;
      assert.equal(other, 0, "a delivery failed or was retried");
      if (delivered === TOTAL) break;
      if (i >= 600) {
        const left = await db.sql`select status, attempts, run_at, last_error from deliveries
          where status <> 'delivered'`;
        assert.fail(
          `only ${delivered} of ${TOTAL} delivered: ${JSON.stringify(left)}\n${
            gw.lines.filter((l) => !l.includes('"level":"debug"')).slice(-15).join("\n")
          }`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(submitted.length, TOTAL);
    assert.equal(sim.dataValues().length, TOTAL);
    const posts = sim.received.filter((r) => r.path === "/api/dataValueSets");
    // Batching may combine submissions into one import; none was sent twice.
    assert.ok(posts.length >= 1 && posts.length <= TOTAL, `${posts.length} imports`);
    assert.ok(posts.every((r) => r.authScheme === "apitoken"));
    // The new PAT is scrubbed from the log like the old one.
    assert.ok(!gw.lines.some((l) => l.includes(pat2) || l.includes(pat1)));
  } finally {
    const status = await gw.stop("SIGTERM");
    await sim.stop();
    await db.close();
    await Deno.remove(dir, { recursive: true });
    assert.equal(status.code, 0, gw.lines.slice(-5).join("\n"));
  }
});
