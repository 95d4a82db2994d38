/**
 * Import and export through /api/v3/mappings in-process over a real PostgreSQL: round trips,
 * updates, replace, dry runs, and every broken input refused with a 4xx that changes nothing.
 */
import assert from "node:assert/strict";
import * as XLSX from "@e965/xlsx";
import { mappingsToXlsx } from "../src/mappings/excel.ts";
import type { MappingInput } from "../src/mappings/model.ts";
import { createTestApp, type TestApp } from "./support/app.ts";
import {
  call,
  COC_F,
  COC_M,
  csv,
  DE1,
  DE2,
  download,
  DS,
  OU,
  storedState,
  upload,
  zipBomb,
} from "./support/mappings.ts";
import { createTestDb, dbTest, type TestDb } from "./support/pg.ts";

async function withApp(
  label: string,
  fn: (t: TestApp, db: TestDb) => Promise<void>,
  env: Record<string, string> = {},
) {
  const db = await createTestDb(label);
  const t = await createTestApp(db, { env });
  try {
    await fn(t, db);
  } finally {
    await t.close();
    await db.close();
  }
}

const HEADER = "code,what,name,description,dataset,dataelement,category_option_combo," +
  "source_name,instance_name,source_orgunit,destination_orgunit";
const BASE = [
  HEADER,
  `001,de,Malaria male,"quoted, with comma",${DS},${DE2},${COC_M},hmis,default,,`,
  `002,de,Malaria female,,${DS},${DE2},${COC_F},hmis,default,,`,
  `ANC1,de,ANC 1st visit é,,,${DE1},,hmis,default,,`,
  `NG,ou,Ngelehun,,,,,hmis,default,NGELEHUN,${OU}`,
  `001,de,Other source,,,${DE1},,lab,default,,`,
  `001,de,Other instance,,,${DE1},,hmis,training,,`,
];

async function report(res: Response) {
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

const counts = (r: Record<string, number>) =>
  [r.created, r.updated, r.unchanged, r.deleted].join("/");

dbTest(
  "import: export → import reports no changes, for CSV and for Excel",
  () =>
    withApp("imp_roundtrip", async (t, db) => {
      assert.equal(counts(await report(await upload(t, "csv", csv(BASE)))), "6/0/0/0");
      const before = await storedState(db);

      const { res, bytes: csvBytes } = await download(t, "/mappings/export/csv");
      assert.equal(
        res.headers.get("content-disposition"),
        'attachment; filename="dhis2_mappings.csv"',
      );
      assert.match(res.headers.get("content-type")!, /^text\/csv/);
      const again = await report(await upload(t, "csv", csvBytes));
      assert.equal(counts(again), "0/0/6/0");
      assert.equal(again.rows, 6);

      const xlsx = await download(t, "/mappings/export/excel");
      assert.equal(
        xlsx.res.headers.get("content-disposition"),
        'attachment; filename="dhis2_mappings.xlsx"',
      );
      assert.equal(counts(await report(await upload(t, "excel", xlsx.bytes))), "0/0/6/0");
      assert.equal(await storedState(db), before, "no row, timestamp or version moved");

      // The exports hold exactly what is stored, codes like 001 kept as text.
      const wb = XLSX.read(xlsx.bytes, { type: "array" });
      assert.deepEqual(wb.SheetNames, ["Mappings"]);
      const rows = XLSX.utils.sheet_to_json<Record<string, string>>(wb.Sheets.Mappings, {
        defval: "",
      });
      assert.equal(rows.length, 6);
      assert.deepEqual(rows.map((r) => r.code).sort(), ["001", "001", "001", "002", "ANC1", "NG"]);
      assert.ok(rows.some((r) => r.name === "ANC 1st visit é"));
    }),
);

dbTest(
  "import: a changed row is updated, new rows added, and absent columns keep their values",
  () =>
    withApp("imp_update", async (t, db) => {
      await report(await upload(t, "csv", csv(BASE)));
      const changed = BASE.map((l) => l.replace("Malaria female", '"Malaria, female"'));
      changed.push(`003,de,New,,,${DE1},,hmis,default,,`);
      const r = await report(await upload(t, "csv", csv(changed)));
      assert.equal(counts(r), "1/1/5/0");
      const [row] = await db.sql`select name, created < updated as touched from dhis2_mappings
      where code = '002' and source_name = 'hmis'`;
      assert.deepEqual({ ...row }, { name: "Malaria, female", touched: true });

      // A file without the description column leaves descriptions alone.
      const narrow = await report(
        await upload(
          t,
          "csv",
          csv([
            "Code; Data Element; NAME; source_name",
            `001;${DE2};Malaria male (renamed);hmis`,
          ]),
        ),
      );
      assert.equal(counts(narrow), "0/1/0/0");
      const [kept] = await db.sql`select name, description, category_option_combo, dataset
      from dhis2_mappings where code = '001' and source_name = 'hmis' and instance_name = 'default'`;
      assert.deepEqual({ ...kept }, {
        name: "Malaria male (renamed)",
        description: "quoted, with comma",
        category_option_combo: COC_M,
        dataset: DS,
      });
    }),
);

dbTest(
  "import: replace removes absent rows of the file's source and instance only",
  () =>
    withApp("imp_replace", async (t, db) => {
      await report(await upload(t, "csv", csv(BASE)));
      const only = [HEADER, BASE[1], `004,de,Added,,,${DE1},,hmis,default,,`];
      const dry = await report(
        await upload(t, "csv", csv(only), { query: { mode: "replace", dryRun: "true" } }),
      );
      assert.equal(counts(dry), "1/0/1/3");
      assert.equal(dry.dryRun, true);
      const before = await storedState(db);
      assert.equal(await storedState(db), before);

      const r = await report(await upload(t, "csv", csv(only), { query: { mode: "replace" } }));
      assert.equal(counts(r), "1/0/1/3");
      assert.equal(r.mode, "replace");
      const left = await db.sql`select source_name || '/' || instance_name || ':' || code as k
      from dhis2_mappings order by 1`;
      assert.deepEqual(left.map((x) => x.k), [
        "hmis/default:001",
        "hmis/default:004",
        "hmis/training:001",
        "lab/default:001",
      ]);
    }),
);

dbTest(
  "import: a dry run counts and changes nothing; upsert is the default mode",
  () =>
    withApp("imp_dry", async (t, db) => {
      const before = await storedState(db);
      const r = await report(await upload(t, "excel", xlsxOf(BASE), { query: { dryRun: "1" } }));
      assert.deepEqual(
        { ...r, problems: r.problems.length, warnings: r.warnings },
        {
          format: "xlsx",
          mode: "upsert",
          dryRun: true,
          rows: 6,
          created: 6,
          updated: 0,
          unchanged: 0,
          deleted: 0,
          validatedAgainstDhis2: false,
          problems: 0,
          // The test app has no DHIS2 URL, so no destination at all.
          warnings: [
            '5 mappings are for instance "default", which has no configured destination ' +
            "(configured: none); submissions will not use them",
            '1 mapping is for instance "training", which has no configured destination ' +
            "(configured: none); submissions will not use them",
          ],
        },
      );
      assert.equal(await storedState(db), before);
    }),
);

/** A workbook of the CSV lines above, written the way the exporter does. */
function xlsxOf(lines: string[]): Uint8Array {
  const header = lines[0].split(",");
  const rows = lines.slice(1).map((l) => {
    const cells = l.match(/("[^"]*"|[^,]*)(,|$)/g)!.map((c) =>
      c.replace(/,$/, "").replace(/"/g, "")
    );
    const m: Record<string, string> = {};
    header.forEach((h, i) => (m[h] = cells[i] ?? ""));
    return {
      code: m.code,
      what: m.what,
      name: m.name,
      description: m.description,
      dataSet: m.dataset,
      dataElement: m.dataelement,
      categoryOptionCombo: m.category_option_combo,
      attributeOptionCombo: "",
      categoryOption: "",
      categoryCombo: "",
      instanceName: m.instance_name,
      sourceName: m.source_name,
      sourceOrgUnit: m.source_orgunit,
      destinationOrgUnit: m.destination_orgunit,
    } as MappingInput;
  });
  return mappingsToXlsx(rows);
}

dbTest(
  "import: every broken input is a 4xx with a useful message and changes nothing",
  () =>
    withApp("imp_broken", async (t, db) => {
      await report(await upload(t, "csv", csv(BASE)));
      const before = await storedState(db);
      const latin1 = new Uint8Array([
        ...new TextEncoder().encode(`${HEADER}\r\nX,de,Caf`),
        0xe9, // é in Windows-1252
        ...new TextEncoder().encode(`,,,${DE1},,hmis,default,,\r\n`),
      ]);
      const text = "this is not a workbook, just text";
      const oversize = `${HEADER}\r\n${"x".repeat(t.config.mappings.import_max_bytes)}`;
      const cases: Array<[string, () => Promise<Response>, number, RegExp]> = [
        ["bad UTF-8", () => upload(t, "csv", latin1), 400, /not valid UTF-8: byte 0xE9 at line 2/],
        [
          "wrong delimiter (tabs)",
          () => upload(t, "csv", csv([HEADER.replaceAll(",", "\t"), `X\tde\tx\t\t\t${DE1}`])),
          422,
          /missing required column.*tab-separated/,
        ],
        [
          "missing required column",
          () => upload(t, "csv", csv(["code,name", "X,x"])),
          422,
          /missing required column\(s\): dataelement \(or destination_orgunit\)/,
        ],
        [
          "duplicate codes",
          () =>
            upload(t, "csv", csv([HEADER, BASE[1], BASE[3], BASE[1].replace("Malaria", "Dup")])),
          422,
          /^2 problems in the file; nothing was changed\. First: row 2, code: duplicate of row 4 /,
        ],
        [
          "non-spreadsheet named .xlsx",
          () => upload(t, "excel", text, { filename: "mappings.xlsx" }),
          415,
          /not an Excel workbook.*looks like a text file/,
        ],
        [
          "a workbook sent as CSV",
          () => upload(t, "csv", xlsxOf(BASE)),
          415,
          /upload it to .*excel/,
        ],
        [
          "zip bomb (300 MB of zeros in 300 KB)",
          async () => upload(t, "excel", await zipBomb(300)),
          413,
          /the workbook unpacks to 300\.0 MB; the limit is 200\.0 MB/,
        ],
        [
          "oversize file (just over the limit)",
          () => upload(t, "csv", oversize),
          413,
          new RegExp(`^the CSV file is ${oversize.length} bytes; the limit is 10485760 bytes$`),
        ],
        [
          "oversize file (far over, refused while still arriving)",
          () => upload(t, "excel", new Uint8Array(t.config.mappings.import_max_bytes * 2)),
          413,
          /^request body is larger than the limit of 10485760 bytes \(mappings\.import_max_bytes\)$/,
        ],
        ["no file", () => call(t, "POST", "/mappings/import/csv"), 400, /No file is received/],
        [
          "bad UID and missing name",
          () => upload(t, "csv", csv(["code,dataelement,name", "X,notauid,", "Y,,y"])),
          422,
          /3 problems in the file/,
        ],
      ];
      // One at a time: concurrent imports would queue behind each other (and past four, 429).
      for (const [name, send, status, message] of cases) {
        const res = await send();
        const body = await res.json();
        assert.equal(res.status, status, `${name}: ${JSON.stringify(body)}`);
        assert.match(body.error.message, message, name);
      }
      assert.equal(await storedState(db), before, "nothing changed");
    }),
);

dbTest(
  "import: duplicate rows are both named; problems carry row, column, value, message",
  () =>
    withApp("imp_problems", async (t) => {
      const res = await upload(t, "csv", csv([HEADER, BASE[1], BASE[3], BASE[1], "Z,de,z,,,bad,"]));
      assert.equal(res.status, 422);
      assert.deepEqual((await res.json()).error.details, [
        {
          row: 2,
          column: "code",
          value: "001",
          message: "duplicate of row 4 (same code, source_name, instance_name, what)",
        },
        {
          row: 4,
          column: "code",
          value: "001",
          message: "duplicate of row 2 (same code, source_name, instance_name, what)",
        },
        {
          row: 5,
          column: "dataelement",
          value: "bad",
          message: "must be a DHIS2 UID (11 characters: a letter, then 10 letters or digits)",
        },
      ]);
    }),
);

dbTest(
  "import: a reply lists at most 100 problems and says how many more",
  () =>
    withApp("imp_cap", async (t) => {
      const lines = [HEADER, ...Array.from({ length: 1500 }, (_, i) => `C${i},de,n,,,bad,`)];
      const res = await upload(t, "csv", csv(lines));
      assert.equal(res.status, 422);
      const { error } = await res.json();
      assert.equal(error.details.length, 100);
      assert.equal(error.omitted, 1400);
      assert.equal(
        error.message,
        "1500 problems in the file; nothing was changed (the first 100 are listed, 1400 more " +
          "are not). First: row 2, dataelement: must be a DHIS2 UID (11 characters: a letter, " +
          "then 10 letters or digits)",
      );
    }),
);

dbTest(
  "import: row and size limits come from the config",
  () =>
    withApp("imp_limits", async (t, db) => {
      const before = await storedState(db);
      const res = await upload(t, "csv", csv(BASE));
      assert.equal(res.status, 413);
      assert.match((await res.json()).error.message, /more than 3 data rows/);
      assert.equal(await storedState(db), before);
    }, { DHIS2GW_IMPORT_MAX_ROWS: "3" }),
);

dbTest(
  "import: an org unit code already mapped elsewhere is a problem, not a 500",
  () =>
    withApp("imp_ou", async (t, db) => {
      await report(await upload(t, "csv", csv(BASE)));
      const before = await storedState(db);
      const res = await upload(t, "csv", csv([HEADER, `NG2,ou,x,,,,,hmis,default,NGELEHUN,${OU}`]));
      assert.equal(res.status, 422);
      assert.match(
        (await res.json()).error.details[0].message,
        /source org unit "NGELEHUN" is already mapped by stored mapping \w{11} \(code "NG"\)/,
      );
      assert.equal(await storedState(db), before);
      // In replace mode the old holder goes, so the new row may take the source org unit.
      const replaced = await report(
        await upload(t, "csv", csv([HEADER, `NG2,ou,x,,,,,hmis,default,NGELEHUN,${OU}`]), {
          query: { mode: "replace" },
        }),
      );
      assert.equal(counts(replaced), "1/0/0/4");
    }),
);
