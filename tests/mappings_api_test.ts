/**
 * /api/v3/mappings CRUD, list filters and paging, and roles, in-process over a real PostgreSQL.
 */
import assert from "node:assert/strict";
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
} from "./support/mappings.ts";
import { createTestDb, dbTest, type TestDb } from "./support/pg.ts";

async function withApp(label: string, fn: (t: TestApp, db: TestDb) => Promise<void>) {
  const db = await createTestDb(label);
  const t = await createTestApp(db);
  try {
    await fn(t, db);
  } finally {
    await t.close();
    await db.close();
  }
}

dbTest(
  "mappings: create, read, partial update, delete, with the old JSON field names",
  () =>
    withApp("map_crud", async (t) => {
      const res = await call(t, "POST", "/mappings", {
        body: { code: " 001 ", name: "ANC 1st visit", dataElement: DE1, dataSet: DS, uid: "x" },
      });
      assert.equal(res.status, 201);
      const created = await res.json();
      assert.match(created.uid, /^[a-zA-Z][a-zA-Z0-9]{10}$/);
      assert.deepEqual(Object.keys(created), [
        "uid",
        "code",
        "what",
        "name",
        "description",
        "dataSet",
        "dataElement",
        "categoryOptionCombo",
        "attributeOptionCombo",
        "categoryOption",
        "categoryCombo",
        "instanceName",
        "sourceName",
        "sourceOrgUnit",
        "destinationOrgUnit",
        "created",
        "updated",
      ]);
      assert.equal(created.code, "001");
      assert.equal(created.what, "de");
      assert.equal(created.sourceName, "default");
      assert.equal(created.instanceName, "default");
      assert.equal(created.categoryOptionCombo, "");

      const got = await call(t, "GET", `/mappings/${created.uid}`, { as: "viewer" });
      assert.equal(got.status, 200);
      assert.deepEqual(await got.json(), created);

      const put = await call(t, "PUT", `/mappings/${created.uid}`, {
        body: { categoryOptionCombo: COC_M },
      });
      assert.equal(put.status, 200);
      const updated = await put.json();
      assert.equal(updated.categoryOptionCombo, COC_M);
      assert.equal(updated.name, "ANC 1st visit", "fields left out keep their values");
      assert.equal(updated.dataSet, DS);
      assert.equal(updated.created, created.created);

      const del = await call(t, "DELETE", `/mappings/${created.uid}`);
      assert.equal(del.status, 200);
      assert.equal((await del.json()).uid, created.uid);
      const gone = await call(t, "GET", `/mappings/${created.uid}`);
      assert.equal(gone.status, 404);
      assert.match((await gone.json()).error.message, /no mapping with uid/);
    }),
);

dbTest(
  "mappings: POST and PUT refuse bad fields (named) and taken keys (409)",
  () =>
    withApp("map_crud_bad", async (t, db) => {
      const bad = await call(t, "POST", "/mappings", {
        body: { what: "de", dataElement: "short", categoryOptionCombo: "also bad" },
      });
      assert.equal(bad.status, 422);
      const fields = (await bad.json()).error.details.map((d: { field: string }) => d.field).sort();
      assert.deepEqual(fields, ["categoryOptionCombo", "code", "dataElement", "name"]);

      const a = await (await call(t, "POST", "/mappings", {
        body: { code: "A", name: "a", dataElement: DE1 },
      })).json();
      await call(t, "POST", "/mappings", { body: { code: "B", name: "b", dataElement: DE2 } });
      const dup = await call(t, "POST", "/mappings", {
        body: { code: "A", name: "again", dataElement: DE2 },
      });
      assert.equal(dup.status, 409);
      assert.match((await dup.json()).error.message, /code "A".*exists already/);

      const before = await storedState(db);
      const clash = await call(t, "PUT", `/mappings/${a.uid}`, { body: { code: "B" } });
      assert.equal(clash.status, 409);
      const invalid = await call(t, "PUT", `/mappings/${a.uid}`, { body: { dataElement: "" } });
      assert.equal(invalid.status, 422);
      assert.equal(await storedState(db), before, "refused changes change nothing");

      await call(t, "POST", "/mappings", {
        body: { what: "ou", sourceOrgUnit: "NGELEHUN", destinationOrgUnit: OU },
      });
      const ouClash = await call(t, "POST", "/mappings", {
        body: { what: "ou", code: "other", sourceOrgUnit: "NGELEHUN", destinationOrgUnit: OU },
      });
      assert.equal(ouClash.status, 409);
      assert.match((await ouClash.json()).error.message, /source org unit "NGELEHUN" is already/);
    }),
);

const FILTER_FILE = csv([
  "code,what,name,dataset,dataelement,category_option_combo,attribute_option_combo," +
  "category_option,category_combo,source_name,instance_name,source_orgunit,destination_orgunit",
  `A1,de,Malaria male,${DS},${DE2},${COC_M},,,,hmis,default,,`,
  `A2,de,Malaria female,${DS},${DE2},${COC_F},,,,hmis,default,,`,
  `A3,de,ANC 1st visit,,${DE1},,,,,hmis,other,,`,
  `A1,de,Malaria 100%_male,,${DE1},,cocDonorA01,catOpt00001,ccSex000001,lab,default,,`,
  `,ou,Ngelehun,,,,,,,hmis,default,NGELEHUN,${OU}`,
  `X9,ou,Baoma,,,,,,,lab,default,BAOMA,ouBaomaCHC1`,
]);

dbTest(
  "mappings: every list filter is applied, alone and together, with paging",
  () =>
    withApp("map_filters", async (t) => {
      const imported = await upload(t, "csv", FILTER_FILE);
      assert.equal(imported.status, 200, await imported.clone().text());
      const codes = async (query: string, as: "viewer" | "submitter" = "viewer") => {
        const res = await call(t, "GET", `/mappings?${query}`, { as });
        assert.equal(res.status, 200, query);
        const page = await res.json();
        return page.items.map((m: { code: string; sourceName: string }) =>
          `${m.sourceName}:${m.code}`
        );
      };
      const all = await (await call(t, "GET", "/mappings")).json();
      assert.equal(all.total, 6);
      const uidOfA3 = all.items.find((m: { code: string }) => m.code === "A3").uid;

      const cases: [string, string[]][] = [
        ["code=A1", ["hmis:A1", "lab:A1"]],
        ["what=ou", ["hmis:NGELEHUN", "lab:X9"]],
        ["name=MALARIA", ["hmis:A1", "hmis:A2", "lab:A1"]],
        ["name=100%25_", ["lab:A1"]], // % and _ are literal, not wildcards
        ["name=a%25e", []], // would match "Malaria male" if % were a wildcard
        [`dataSet=${DS}`, ["hmis:A1", "hmis:A2"]],
        [`dataElement=${DE1}`, ["hmis:A3", "lab:A1"]],
        [`categoryOptionCombo=${COC_F}`, ["hmis:A2"]],
        ["attributeOptionCombo=cocDonorA01", ["lab:A1"]],
        ["categoryOption=catOpt00001", ["lab:A1"]],
        ["categoryCombo=ccSex000001", ["lab:A1"]],
        ["source=lab", ["lab:A1", "lab:X9"]],
        ["instance_name=other", ["hmis:A3"]],
        ["source_orgunit=BAOMA", ["lab:X9"]],
        [`destination_orgunit=${OU}`, ["hmis:NGELEHUN"]],
        [`uid=${uidOfA3}`, ["hmis:A3"]],
        ["source=hmis&instance_name=default&what=de", ["hmis:A1", "hmis:A2"]],
        ["source=nobody", []],
        ["source_name=lab", ["lab:A1", "lab:X9"]], // the column's own name works too
      ];
      for (const [query, expected] of cases) {
        assert.deepEqual(await codes(query), expected, query);
      }
      assert.deepEqual(await codes("code=A2", "submitter"), ["hmis:A2"]);

      const p2 = await (await call(t, "GET", "/mappings?page=2&page_size=4")).json();
      assert.deepEqual(
        { total: p2.total, page: p2.page, page_size: p2.page_size, total_pages: p2.total_pages },
        { total: 6, page: 2, page_size: 4, total_pages: 2 },
      );
      assert.deepEqual(p2.items.map((m: { code: string }) => m.code), ["A1", "X9"]);
      const badPage = await call(t, "GET", "/mappings?page=0&page_size=5000");
      assert.equal(badPage.status, 422);
      // An unknown filter is a 422 naming it (the old service ignored every filter).
      for (const path of ["/mappings?sourcename=lab", "/mappings/export/csv?created=2024-01-01"]) {
        const unknown = await call(t, "GET", path);
        assert.equal(unknown.status, 422, path);
        const err = (await unknown.json()).error;
        assert.match(err.message, /sourcename|created/, path);
      }
    }),
);

dbTest(
  "mappings: viewers and submitters read, only admins write (403, nothing changes)",
  () =>
    withApp("map_roles", async (t, db) => {
      const m = await (await call(t, "POST", "/mappings", {
        body: { code: "A", name: "a", dataElement: DE1 },
      })).json();
      const before = await storedState(db);
      for (const role of ["viewer", "submitter"] as const) {
        const writes = [
          await call(t, "POST", "/mappings", { as: role, body: { code: "B", dataElement: DE1 } }),
          await call(t, "PUT", `/mappings/${m.uid}`, { as: role, body: { name: "x" } }),
          await call(t, "DELETE", `/mappings/${m.uid}`, { as: role }),
          await upload(t, "csv", csv(["code,name,dataelement", `Z,z,${DE1}`]), { as: role }),
          await upload(t, "excel", new Uint8Array([1]), { as: role }),
        ];
        for (const res of writes) {
          assert.equal(res.status, 403, `${role}: ${res.url}`);
          assert.match((await res.json()).error.message, /needs the role admin/);
        }
        for (const path of ["/mappings", `/mappings/${m.uid}`, "/mappings/export/csv"]) {
          const { res } = await download(t, path, role);
          assert.equal(res.status, 200, `${role} GET ${path}`);
        }
      }
      assert.equal(await storedState(db), before);
    }),
);

dbTest(
  "mappings: the template and exports need credentials on /api/v3; the old path serves the template",
  () =>
    withApp("map_template", async (t) => {
      for (
        const path of ["/api/v3/mappings/export/excel-template", "/api/v3/mappings/export/csv"]
      ) {
        const res = await t.app.request(path);
        assert.equal(res.status, 401, path);
        await res.body?.cancel();
      }
      // The old service's unauthenticated path (issue 12): headers and instructions, no data.
      const old = await t.app.request("/mappings/export/excel-template");
      assert.equal(old.status, 200);
      assert.equal(
        old.headers.get("content-disposition"),
        'attachment; filename="dhis2_mappings_template.xlsx"',
      );
      await old.body?.cancel();
      const { res, bytes } = await download(t, "/mappings/export/excel-template", "viewer");
      assert.equal(res.status, 200);
      assert.equal(
        res.headers.get("content-disposition"),
        'attachment; filename="dhis2_mappings_template.xlsx"',
      );
      assert.equal(bytes[0], 0x50); // PK: a ZIP, i.e. an .xlsx
    }),
);
