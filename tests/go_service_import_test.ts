/**
 * Upgrading a site that runs the old Go service, in place: its tables (tests/fixtures/) in
 * `public` of the database dhis2gw is pointed at, filled as the old service left them. The real
 * CLI warns, dry-runs, applies, and applies again; then an old user logs in with the old
 * password (re-hashed), an old client calls /api/v3 with its old token, and the mappings and the
 * history are there, the unfinished rows ready to requeue.
 */
import assert from "node:assert/strict";
import { connect } from "../src/db/db.ts";
import { migrate } from "../src/db/migrate.ts";
import { importGoService } from "../src/goservice/apply.ts";
import { connectOld } from "../src/goservice/read.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { GO_SERVICE_NOTICE } from "../src/db/schema.ts";
import { createTestApp } from "./support/app.ts";
import { runCli as runCliInProcess } from "../src/cli/cli.ts";
import { portFrom, runCli, startServe } from "./support/cli.ts";
import { createOldServiceSchema } from "./support/go_service.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const HMIS_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";
const OU = "DiszpKrYNg8";
const DS = "pBOMPrpg1QX";
const DE = "fbfJHSPpUQD";
const COC = "PT59n8BQbqM";

async function inProcess(args: string[], env: Record<string, string>) {
  const r = { code: 0, stdout: "", stderr: "" };
  r.code = await runCliInProcess(args, {
    env,
    out: (t) => void (r.stdout += t),
    err: (t) => void (r.stderr += t),
    stopSignal: () => new Promise(() => {}),
  });
  return r;
}

/** Old rows: the oddities of §4–§6 of the reference, one of each. */
async function fillOld(pub: ReturnType<typeof connect>): Promise<void> {
  // bcrypt cost 10 (Go's DefaultCost) of "s3cret-old-pass", made with libxcrypt.
  await pub`insert into users (uid, user_role, username, password, firstname, lastname, email)
    values ('hMisUser001', 2, 'hmis', '$2a$10$0123456789ABCDEFGHIJKuCx5gvYqX8yUsEpAeOrQrFC44eA.2uRS',
            'HMIS', 'Client', null),
           ('', 2, 'x', '$2a$10$0123456789ABCDEFGHIJKuCx5gvYqX8yUsEpAeOrQrFC44eA.2uRS', 'X', 'Y',
            null)`;
  await pub`insert into user_apitoken (user_id, token, is_active, expires_at) values
    (2, ${HMIS_TOKEN}, true, now() - interval '3 days'),
    (1, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', false, now() + interval '300 days'),
    (2, '', true, null)`;
  await pub`insert into dhis2_mappings (name, code, dataelement, category_option_combo,
      instance_name, source_name, what, source_orgunit, dest_orgunit) values
    ('ANC 1st visit', 'ANC1', ${DE}, '<nil>', 'default', 'default', 'de', '', ''),
    ('ANC 2nd visit', 'ANC2', ${DE}, ${COC}, '', '', '', '', ''),
    ('ANC 1st, no names', 'ANC1', ${DE}, '0xc000a2b3c0', '', '', 'de', '', ''),
    ('Clinic A', 'HC-A', '', null, 'default', 'default', '', 'HC-A', ${OU}),
    ('Broken', 'BAD', 'not-a-uid', null, 'default', 'default', 'de', '', '')`;
  const req = (values: string) =>
    `{"orgUnit":"${OU}","orgUnitName":"HC 1","period":"202401","dataSet":"${DS}",` +
    `"dataValues":{${values}}}`;
  const sent = JSON.stringify({
    dataSet: DS,
    completeDate: "2024-02-01",
    period: "202401",
    orgUnit: OU,
    dataValues: [{ dataElement: DE, value: "12" }],
  });
  await pub`insert into submission_log (submitted_at, payload, status, last_attempt_at, task_id,
      response, errors, dhis2_payload) values
    ('2024-02-01 08:00', ${req(`"ANC1":12`)}::text::jsonb, 'OK', '2024-02-01 08:00:02',
     '6f0c2a6e-2a53-4a4e-9d47-4b3e0f1f7a01', null, null, ${sent}),
    ('2024-02-02 08:00', ${
    req(`"ANC1":3,"ANC2":"4"`)
  }::text::jsonb, 'WARNING', '2024-02-02 08:00:01',
     null, null, '', ${sent}),
    ('2024-02-03 08:00', ${req(`"ANC2":5`)}::text::jsonb, 'failed', '2024-02-03 08:00:09',
     null, null, 'dhis2 error response: 502 Bad Gateway', null),
    ('2024-02-04 08:00', ${req(`"ANC1":7`)}::text::jsonb, 'queued', null,
     '0d7f7a4e-1111-4c2b-8f00-5b7e9d1a2b3c', null, null, null),
    ('2024-02-05 08:00', ${req(`"GHOST":1`)}::text::jsonb, 'queued', null, null, null, null, null)`;
}

dbTest(
  "import-go-service: dry run, apply, apply again; old password and old token work",
  async () => {
    const db = await createTestDb("go_import", { migrated: false });
    const pub = connect({ url: db.url, max: 1, searchPath: "public" });
    try {
      await createOldServiceSchema(pub);
      await fillOld(pub);
      const env = { DHIS2GW_DB: db.url };

      // The dry run and the re-run in-process (the CLI's own code, as main.ts runs it; a
      // subprocess costs ~6 s of start-up on a loaded machine), --apply as a real process.
      const dry = await inProcess(["import-go-service", "--from", db.url], env);
      assert.equal(dry.code, 0, dry.stderr);
      // The one line every command prints on such a database until something was imported.
      const notice = dry.stderr.split("\n").filter((l) => l.includes("import-go-service"));
      assert.deepEqual(notice.map((l) => JSON.parse(l).msg), [GO_SERVICE_NOTICE]);
      assert.match(
        dry.stdout,
        /^users: 2 to import, 0 imported before, 0 already in dhis2gw, 1 skipped$/m,
      );
      assert.match(dry.stdout, /x \(old id 3\): username must be 3-64/);
      assert.match(dry.stdout, /^ {4}admin: still has the password the old service seeded/m);
      assert.match(dry.stdout, /^API tokens: 1 to import, 0 imported before, 2 skipped$/m);
      assert.match(dry.stdout, /token 1 of old user 2: its expires_at \d{4}-\d\d-\d\d had passed/);
      assert.match(dry.stdout, /token 2 of old user 1: deactivated in the old service/);
      assert.match(dry.stdout, /token 3 of old user 2: not a 40-hex token/);
      assert.match(dry.stdout, /^mappings: 3 to import, 0 imported before, 4 cleaned, 2 skipped$/m);
      assert.match(dry.stdout, /mapping 1 \(code "ANC1"\): category_option_combo "<nil>" → empty/);
      assert.match(
        dry.stdout,
        /mapping 3 \(code "ANC1"\): once cleaned, the same code\/source\/instance\/what as mapping 1/,
      );
      assert.match(dry.stdout, /mapping 5 \(code "BAD"\): dataElement must be a DHIS2 UID/);
      assert.match(
        dry.stdout,
        /^submissions: 5 to import \(3 dead, 1 delivered, 1 partial\), 0 imported before$/m,
      );
      assert.match(dry.stdout, /2 never finished in the old service/);
      assert.match(
        dry.stdout,
        new RegExp(
          String.raw`^ {4}old id 4 \(dhis2gw id on --apply\) \S+ status queued orgUnit ${OU} ` +
            String.raw`period 202401 dataSet ${DS}$`,
          "m",
        ),
      );
      assert.match(
        dry.stdout,
        /^ {4}old id 5 .* dataSet pBOMPrpg1QX: cannot be requeued as it is: dataValues\.GHOST: /m,
      );
      assert.match(dry.stdout, /1 failed in the old service/);
      assert.match(dry.stdout, /dry run: nothing was written/);
      const [none] = await db.sql`select
      (select count(*) from users)::int as users, (select count(*) from submissions)::int as subs,
      (select count(*) from go_service_imports)::int as ledger`;
      assert.deepEqual({ ...none }, { users: 0, subs: 0, ledger: 0 });

      const applied = await runCli(["import-go-service", "--from", db.url, "--apply"], { env });
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stdout, /^users: 2 imported,/m);
      assert.match(applied.stdout, /^submissions: 5 imported \(3 dead, 1 delivered, 1 partial\)/m);
      const again = await inProcess(["import-go-service", "--from", db.url, "--apply"], env);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stderr.includes("import-go-service`"), false, "no notice after an import");
      assert.match(again.stdout, /^users: 0 imported, 2 imported before/m);
      assert.match(again.stdout, /^API tokens: 0 imported, 1 imported before, 2 skipped$/m);
      assert.match(again.stdout, /^mappings: 0 imported, 3 imported before/m);
      assert.match(again.stdout, /^submissions: 0 imported, 5 imported before$/m);
      const [counts] = await db.sql`select (select count(*) from users)::int as users,
      (select count(*) from api_tokens)::int as tokens,
      (select count(*) from dhis2_mappings)::int as mappings,
      (select count(*) from submissions)::int as subs,
      (select count(*) from deliveries)::int as deliveries,
      (select count(*) from delivery_attempts)::int as attempts`;
      assert.deepEqual({ ...counts }, {
        users: 2,
        tokens: 1,
        mappings: 3,
        subs: 5,
        deliveries: 5,
        attempts: 3,
      });
      // Each old row as history: what DHIS2 got, its answer, one attempt; in the old order.
      const rows = await db.sql`select s.id, s.username, s.payload, d.status, d.attempts,
          d.http_status, d.dhis2_status, d.last_error, a.outcome
        from go_service_imports g join submissions s on s.id = g.new_id
        join deliveries d on d.submission_id = s.id
        left join delivery_attempts a on a.delivery_id = d.id
        where g.kind = 'submission' order by g.old_id`;
      assert.deepEqual(rows.map((r) => r.id), [...rows.map((r) => r.id)].sort((a, b) => a - b));
      assert.deepEqual(
        rows.map((r) => [r.status, r.attempts, r.http_status, r.dhis2_status, r.outcome]),
        [
          ["delivered", 1, 200, "OK", "delivered"],
          ["partial", 1, 200, "WARNING", "partial"],
          ["dead", 1, null, null, "dead"],
          ["dead", 0, null, null, null],
          ["dead", 0, null, null, null],
        ],
      );
      assert.equal(rows[0].username, "go-service");
      assert.equal(rows[0].payload.completeDate, "2024-02-01", "what the old service sent");
      assert.match(
        rows[2].last_error,
        /^dhis2 error response: 502 Bad Gateway \(imported from the old Go service, where it failed: requeue it/,
      );
      assert.match(rows[3].last_error, /never finished \(status "queued"; .*requeue it/);

      const t = await createTestApp(db);
      try {
        // The seed admin logs in with its old password; the bcrypt hash becomes dhis2gw's.
        const [before] = await db.sql`select password_hash from users where username = 'admin'`;
        assert.match(before.password_hash, /^\$2a\$06\$/);
        const login = await t.app.request("/api/v3/users/getToken", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ username: "admin", password: "@dm1n" }),
        });
        assert.equal(login.status, 201, await login.clone().text());
        const { token: jwt } = await login.json();
        const [after] = await db.sql`select password_hash from users where username = 'admin'`;
        assert.match(after.password_hash, /^scrypt\$/);
        const wrong = await t.app.request("/api/v3/users/getToken", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ username: "hmis", password: "not-the-old-one" }),
        });
        assert.equal(wrong.status, 401);
        await wrong.body?.cancel();

        // The old client's token, unchanged, on today's API.
        const old = { Authorization: `Token ${HMIS_TOKEN}` };
        const maps = await t.app.request("/api/v3/mappings?page_size=50", { headers: old });
        assert.equal(maps.status, 200, await maps.clone().text());
        const items = (await maps.json()).items as Array<Record<string, string>>;
        const byCode = Object.fromEntries(items.map((m) => [m.code, m]));
        assert.deepEqual(Object.keys(byCode).sort(), ["ANC1", "ANC2", "HC-A"]);
        assert.equal(byCode.ANC1.categoryOptionCombo, "");
        assert.equal(byCode.ANC2.sourceName, "default");
        assert.equal(byCode["HC-A"].what, "ou");

        const admin = { Authorization: `Bearer ${jwt}` };
        const logs = await t.app.request("/api/v3/logs?page_size=50", { headers: admin });
        assert.equal(logs.status, 200, await logs.clone().text());
        const list = (await logs.json()).items as Array<Record<string, unknown>>;
        assert.deepEqual(list.map((s) => s.status).sort(), [
          "dead",
          "dead",
          "dead",
          "delivered",
          "partial",
        ]);
        const delivered = list.find((s) => s.status === "delivered")!;
        assert.equal(delivered.task_id, "6f0c2a6e-2a53-4a4e-9d47-4b3e0f1f7a01");
        // The never-finished row that today's mappings can build goes back to the queue.
        const [queued] = await db.sql`select s.id from submissions s
        where s.task_id = '0d7f7a4e-1111-4c2b-8f00-5b7e9d1a2b3c'`;
        const rq = await t.app.request(`/api/v3/logs/${queued.id}/requeue`, {
          method: "POST",
          headers: admin,
        });
        assert.equal(rq.status, 200, await rq.clone().text());
        await rq.body?.cancel();
        const [sent] = await db.sql`select s.status, s.payload from submissions s
        where s.id = ${queued.id}`;
        assert.equal(sent.status, "queued");
        assert.deepEqual(sent.payload.dataValues, [{ dataElement: DE, value: "7" }]);

        // The old client's getToken with that token rotates it, as on the old service: the old
        // string stops working and the new one works.
        const rot = await t.app.request("/api/v2/users/getToken", { method: "POST", headers: old });
        assert.equal(rot.status, 201, await rot.clone().text());
        const { token: next } = await rot.json();
        assert.match(next, /^[0-9a-f]{40}$/);
        const gone = await t.app.request("/api/v3/mappings", { headers: old });
        assert.equal(gone.status, 401);
        await gone.body?.cancel();
        const works = await t.app.request("/api/v3/mappings", {
          headers: { Authorization: `Token ${next}` },
        });
        assert.equal(works.status, 200);
        await works.body?.cancel();
        const [flag] = await db.sql`select count(*)::int as n from api_tokens
          where name like 'Go service token %' and from_get_token`;
        assert.ok(flag.n >= 1, "imported tokens are getToken tokens");
      } finally {
        await t.close();
      }
    } finally {
      await pub.end();
      await db.close();
    }
  },
);

dbTest(
  "import-go-service: a long import outlives the old database's statement timeout",
  async () => {
    const db = await createTestDb("go_import_slow", { migrated: false });
    const pub = connect({ url: db.url, max: 1, searchPath: "public" });
    // The submission log is read through one cursor while the rows are written: here the writes
    // wait 1.5 s for a lock, longer than the 1 s statement timeout of the old database's pool.
    const old = connectOld(db.url, { connect_timeout: 5, statement_timeout: 1 });
    const blocker = connect({ url: db.url, max: 1 });
    try {
      await createOldServiceSchema(pub);
      await fillOld(pub);
      await migrate(db.sql, captureLogger().log);
      let release!: () => void;
      const held = new Promise<void>((r) => release = r);
      let locked!: () => void;
      const hasLock = new Promise<void>((r) => locked = r);
      const holder = blocker.begin(async (tx) => {
        await tx`lock table deliveries in exclusive mode`;
        locked();
        await held;
      });
      await hasLock;
      const run = importGoService(db.sql, old, {
        apply: true,
        // Three fetches of the 5 rows: the cursor stays open while the first ones are written.
        batch: 2,
        tokenMaxDays: 365,
        maxAttempts: 9,
        payload: {
          mappingScheme: "CODE",
          unmappedCodes: "reject",
          defaultDataSet: "",
          defaultAttributeOptionCombo: "",
          completeByDefault: false,
          timezone: "UTC",
        },
      });
      await new Promise((r) => setTimeout(r, 1500));
      release();
      await holder;
      const report = await run;
      assert.equal(report.submissions.imported, 5);
    } finally {
      await Promise.all([pub.end(), old.end(), blocker.end()]);
      await db.close();
    }
  },
);

dbTest(
  "serve on the old service's database starts, says so in one line, makes no admin",
  async () => {
    const db = await createTestDb("go_serve", { migrated: false });
    const pub = connect({ url: db.url, max: 1, searchPath: "public" });
    await createOldServiceSchema(pub);
    const proc = startServe(["serve", "--no-worker"], {
      env: {
        DHIS2GW_DB: db.url,
        DHIS2GW_SERVER_PORT: "0",
        DHIS2GW_HOST: "127.0.0.1",
        DHIS2GW_ADMIN_PASSWORD: "a-strong-first-password",
      },
    });
    try {
      const port = portFrom(await proc.waitFor(/"msg":"listening"/, 60_000));
      const ready = await fetch(`http://127.0.0.1:${port}/ready`);
      assert.equal(ready.status, 200);
      await ready.body?.cancel();
      const notice = proc.lines.filter((l) => l.includes("import-go-service"));
      assert.deepEqual(notice.map((l) => JSON.parse(l).msg), [GO_SERVICE_NOTICE]);
      assert.equal(proc.lines.some((l) => l.includes("created the first admin")), false);
      const [u] = await db.sql`select count(*)::int as n from users`;
      assert.equal(u.n, 0);
      assert.equal((await proc.stop("SIGTERM")).code, 0);
    } finally {
      await proc.stop("SIGTERM");
      await pub.end();
      await db.close();
    }
  },
);
