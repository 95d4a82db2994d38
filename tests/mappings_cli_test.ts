/** `dhis2gw mappings import | export` as an operator runs it: the real CLI in a subprocess. */
import assert from "node:assert/strict";
import { runCli } from "./support/cli.ts";
import { csv, DE1, DE2, storedState } from "./support/mappings.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

const FILE = csv([
  "code;name;dataelement;source_name",
  `001;ANC;${DE1};hmis`,
  `002;Malaria;${DE2};hmis`,
  `003;Other;${DE1};lab`,
]);

dbTest("mappings CLI: import, dry run, export and re-import (CSV and Excel), replace", async () => {
  const db = await createTestDb("map_cli");
  const dir = await Deno.makeTempDir();
  const env = { DHIS2GW_DB: db.url };
  try {
    await Deno.writeTextFile(`${dir}/in.csv`, FILE);
    const first = await runCli(["mappings", "import", `${dir}/in.csv`], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(
      first.stdout,
      `${dir}/in.csv: 3 rows; 3 were created, 0 updated, 0 unchanged, 0 deleted (upsert)\n`,
    );
    assert.ok(!first.stderr.includes("\r"), "no progress line when stderr is not a terminal");

    const before = await storedState(db);
    await Deno.writeTextFile(`${dir}/changed.csv`, FILE.replace("Malaria", "Malaria cases"));
    const dry = await runCli(["mappings", "import", `${dir}/changed.csv`, "--dry-run"], { env });
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(
      dry.stdout,
      `${dir}/changed.csv: 3 rows; 0 would be created, 1 updated, 2 unchanged, 0 deleted ` +
        "(upsert); dry run: nothing was changed\n",
    );
    assert.equal(await storedState(db), before);

    for (const ext of ["csv", "xlsx"]) {
      const out = await runCli(["mappings", "export", `${dir}/all.${ext}`], { env });
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout, `exported 3 mappings to ${dir}/all.${ext}\n`);
      const again = await runCli(["mappings", "import", `${dir}/all.${ext}`], { env });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /3 rows; 0 were created, 0 updated, 3 unchanged, 0 deleted/);
    }
    assert.equal(await storedState(db), before, "round trips changed nothing");

    const lab = await runCli(["mappings", "export", `${dir}/lab.csv`, "--source", "lab"], { env });
    assert.equal(lab.stdout, `exported 1 mappings to ${dir}/lab.csv\n`);

    await Deno.writeTextFile(
      `${dir}/one.csv`,
      csv(["code,name,dataelement,source_name", `001,ANC,${DE1},hmis`]),
    );
    const replace = await runCli(
      ["mappings", "import", `${dir}/one.csv`, "--mode", "replace"],
      { env },
    );
    assert.equal(replace.code, 0, replace.stderr);
    assert.match(replace.stdout, /0 were created, 0 updated, 1 unchanged, 1 deleted \(replace\)/);
    const left = await db.sql`select source_name, code from dhis2_mappings order by 1, 2`;
    assert.deepEqual(left.map((r) => `${r.source_name}:${r.code}`), ["hmis:001", "lab:003"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await db.close();
  }
});

dbTest("mappings CLI: a broken file lists its problems, exits 1 and changes nothing", async () => {
  const db = await createTestDb("map_cli_bad");
  const dir = await Deno.makeTempDir();
  const env = { DHIS2GW_DB: db.url };
  try {
    await runCli(["migrate"], { env });
    const before = await storedState(db);
    await Deno.writeTextFile(
      `${dir}/bad.csv`,
      csv(["code,name,dataelement", `A,a,${DE1}`, "B,b,nope", `A,again,${DE2}`]),
    );
    const r = await runCli(["mappings", "import", `${dir}/bad.csv`], { env });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^3 problems in the file; nothing was changed\. First: row 2, code/);
    assert.match(r.stderr, /\n {2}row 3 dataelement "nope": must be a DHIS2 UID/);
    assert.match(r.stderr, /\n {2}row 4 code "A": duplicate of row 2 /);

    await Deno.writeTextFile(`${dir}/fake.xlsx`, "code,name\n");
    const fake = await runCli(["mappings", "import", `${dir}/fake.xlsx`], { env });
    assert.equal(fake.code, 1);
    assert.match(fake.stderr, /not an Excel workbook/);
    assert.equal(await storedState(db), before);

    const usage = [
      [["mappings", "export", `${dir}/out.txt`], /must end in \.csv or \.xlsx/],
      [
        ["mappings", "import", `${dir}/bad.csv`, "--mode", "merge"],
        /--mode must be upsert or replace/,
      ],
      [["mappings", "sync", "x"], /usage: dhis2gw mappings import FILE/],
    ] as const;
    for (const [args, message] of usage) {
      const u = await runCli([...args], { env });
      assert.equal(u.code, 2, args.join(" "));
      assert.match(u.stderr, message);
    }
    const missing = await runCli(["mappings", "import", `${dir}/none.csv`], { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read .*none\.csv/);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await db.close();
  }
});
