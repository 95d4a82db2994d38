/**
 * Hostile text and nesting (issue 10 item 4): a NUL, a lone UTF-16 surrogate or bytes that are
 * not UTF-8, anywhere in a request, and JSON nested past MAX_JSON_DEPTH, are a 4xx in the error
 * envelope naming where they are; never a 500 from PostgreSQL or a stack overflow.
 */
import assert from "node:assert/strict";
import * as XLSX from "@e965/xlsx";
import { MAX_JSON_DEPTH } from "../src/http/input_text.ts";
import { upload } from "./support/mappings.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { body, createSubmissionsApp } from "./support/submissions.ts";

interface Envelope {
  error: { code: string; message: string; requestId: string; details?: Array<{ field: string }> };
}

async function refused(res: Response, status: number, code: string): Promise<Envelope> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  const err = JSON.parse(text) as Envelope;
  assert.equal(err.error.code, code);
  assert.ok(err.error.requestId);
  return err;
}

/** A one-row mapping workbook whose name cell is `xml` (9 characters) as written in the XML. */
function xlsxWithCell(xml: string): Uint8Array {
  const marker = "x_MARKER_";
  assert.equal(xml.length, marker.length);
  const ws = XLSX.utils.aoa_to_sheet([["code", "dataElement", "name"], [
    "A1",
    "f7n9E0hX8qk",
    marker,
  ]]);
  const wb = XLSX.utils.book_new();
  XLSX.utils.book_append_sheet(wb, ws, "mappings");
  // Stored, not deflated, so the text can be replaced in place (SheetJS does not check CRCs).
  const out = new Uint8Array(
    XLSX.write(wb, { type: "array", bookType: "xlsx", compression: false }),
  );
  const at = new TextDecoder("latin1").decode(out).indexOf(marker);
  assert.ok(at > 0);
  out.set(new TextEncoder().encode(xml), at);
  return out;
}

const fields = (e: Envelope) => (e.error.details ?? []).map((d) => d.field).sort();
const deep = (n: number) => "[".repeat(n) + "]".repeat(n);

dbTest("a NUL or lone surrogate in a submission's text is a 422 naming the field", async () => {
  const db = await createTestDb("hostile_sub");
  const t = await createSubmissionsApp(db);
  try {
    const cases: Array<[unknown, string[], Record<string, string>?]> = [
      [body({ ANC1: 1 }, { orgUnitName: "Ngelehun\u0000" }), ["orgUnitName"]],
      [body({ REMARKS: "a\u0000b" }), ["dataValues.REMARKS"]],
      [body({ REMARKS: "x\ud800" }), ["dataValues.REMARKS"]],
      [body({ REMARKS: "\udfff" }, { orgUnitName: "\u0000" }), [
        "dataValues.REMARKS",
        "orgUnitName",
      ]],
      // Unknown fields are stored with the request as received (jsonb), so they count too.
      [body({ ANC1: 1 }, { note: ["ok", { deeper: "\u0000" }] }), ["note.1.deeper"]],
      // The route reads JSON whatever the Content-Type says.
      [body({ REMARKS: "a\u0000" }), ["dataValues.REMARKS"], { "Content-Type": "text/plain" }],
    ];
    for (const [b, want, headers] of cases) {
      const err = await refused(await t.post(b, { headers }), 422, "validation_failed");
      assert.deepEqual(fields(err), want, JSON.stringify(b));
      assert.match(err.error.message, /NUL|surrogate/);
    }
    // A correct surrogate pair is a character like any other.
    const ok = await t.post(body({ REMARKS: "\ud83d\ude00" }));
    assert.equal(ok.status, 200);
    const [{ n }] = await db.sql`select count(*)::int as n from submissions`;
    assert.equal(n, 1);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest(`JSON nested deeper than ${MAX_JSON_DEPTH} levels is a 400 on every route`, async () => {
  const db = await createTestDb("hostile_deep");
  const t = await createSubmissionsApp(db);
  try {
    const admin = t.users.admin.headers.token;
    const cases: Array<[string, string, Record<string, string>]> = [
      ["/api/v3/aggregate", deep(10_000), { "Content-Type": "application/json" }],
      ["/api/v3/aggregate", deep(10_000), {}],
      [
        "/api/v3/aggregate",
        JSON.stringify(body({ ANC1: 1 })).replace(/}$/, `,"x":${deep(MAX_JSON_DEPTH)}}`),
        { "Content-Type": "application/json" },
      ],
      ["/api/v3/logs/requeue", `{"filter":{"q":"x"},"z":${deep(9_000)}}`, {
        "Content-Type": "application/json",
      }],
      ["/api/v3/logs/requeue", `{"filter":{"q":"x"},"z":${deep(9_000)}}`, {}],
      ["/api/v3/aggregate/reenqueue/batch", `{"task_ids":${deep(200)}}`, {}],
      ["/api/v3/users", deep(100_000), { "Content-Type": "application/json" }],
    ];
    for (const [path, text, headers] of cases) {
      const res = await t.app.request(path, {
        method: "POST",
        headers: { ...admin, ...headers },
        body: text,
      });
      const err = await refused(res, 400, "bad_request");
      assert.match(err.error.message, new RegExp(`deeper than ${MAX_JSON_DEPTH} levels`), path);
    }
    // Exactly at the limit is fine (the submission then fails on its own merits).
    const atLimit = JSON.stringify(body({ ANC1: 1 })).replace(
      /}$/,
      `,"x":${deep(MAX_JSON_DEPTH - 1)}}`,
    );
    const res = await t.post(atLimit);
    assert.equal(res.status, 200, await res.text());
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("a NUL or a non-UTF-8 byte in a query parameter is a 422 naming it", async () => {
  const db = await createTestDb("hostile_query");
  const t = await createSubmissionsApp(db);
  try {
    const viewer = t.users.viewer.headers.token;
    const cases: Array<[string, string]> = [
      ["/api/v3/logs?q=%00", "q"],
      ["/api/v3/logs?orgUnit=Ngelehun%00", "orgUnit"],
      // A lone surrogate, UTF-8-style (WTF-8/CESU-8): no valid UTF-8 text.
      ["/api/v3/logs?q=%ED%A0%80", "q"],
      ["/api/v3/logs?page=1&q=%ED%A0%80x%00", "q"],
      ["/api/v3/logs?period=%FF", "period"],
      ["/api/v3/mappings?code=%00", "code"],
      ["/api/v3/logs/purge?date=%00", "date"],
    ];
    for (const [url, field] of cases) {
      const method = url.includes("purge") ? "DELETE" : "GET";
      const headers = method === "DELETE" ? t.users.admin.headers.token : viewer;
      const err = await refused(
        await t.app.request(url, { method, headers }),
        422,
        "validation_failed",
      );
      assert.deepEqual(fields(err), [field], url);
    }
    // `%` that is not a percent-encoding stays as it was (the old service accepted it).
    const pct = await t.app.request("/api/v3/logs?q=100%", { headers: viewer });
    assert.equal(pct.status, 200);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("a NUL in a path, or in a standard-parser JSON body, is a 422", async () => {
  const db = await createTestDb("hostile_other");
  const t = await createSubmissionsApp(db);
  try {
    const admin = t.users.admin.headers.token;
    const json = { ...admin, "Content-Type": "application/json" };
    const path = await refused(
      await t.app.request("/api/v3/users/%00", { headers: admin }),
      422,
      "validation_failed",
    );
    assert.deepEqual(fields(path), ["(path)"]);
    const cases: Array<[string, string, unknown, string]> = [
      ["POST", "/api/v3/logs/requeue", { filter: { q: "x\u0000" } }, "filter.q"],
      ["POST", "/api/v3/logs/requeue", { filter: { orgUnit: "\udc00" } }, "filter.orgUnit"],
      ["POST", "/api/v3/users", {
        username: "hostile",
        password: "pw-0123456789abcdef",
        role: "viewer",
        firstName: "\ud800",
      }, "firstName"],
      ["POST", "/api/v3/mappings", {
        code: "A\u0000",
        dataElement: "f7n9E0hX8qk",
        name: "x",
      }, "code"],
    ];
    for (const [method, url, b, field] of cases) {
      const res = await t.app.request(url, { method, headers: json, body: JSON.stringify(b) });
      const err = await refused(res, 422, "validation_failed");
      assert.deepEqual(fields(err), [field], url);
    }
    // Without a JSON Content-Type the requeue route still reads the body as JSON.
    const plain = await t.app.request("/api/v3/logs/requeue", {
      method: "POST",
      headers: { ...admin, "Content-Type": "text/plain" },
      body: JSON.stringify({ filter: { q: "x\u0000" } }),
    });
    assert.deepEqual(fields(await refused(plain, 422, "validation_failed")), ["filter.q"]);
    const [{ n }] = await db.sql`select count(*)::int as n from users where username = 'hostile'`;
    assert.equal(n, 0);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest("a mapping file with a NUL or a lone surrogate in a cell is a 422 naming it", async () => {
  const db = await createTestDb("hostile_map");
  const t = await createSubmissionsApp(db);
  try {
    const header = "code,dataElement,name";
    const nul = await upload(t, "csv", `${header}\r\nA1,f7n9E0hX8qk,bad\u0000name\r\n`);
    const e1 = await refused(nul, 422, "validation_failed");
    assert.match(JSON.stringify(e1.error.details), /"name"/);
    // A UTF-8-encoded surrogate (ED A0 80) is not UTF-8: the CSV is refused as unreadable.
    const bytes = new Uint8Array([
      ...new TextEncoder().encode(`${header}\r\nA1,f7n9E0hX8qk,x`),
      0xed,
      0xa0,
      0x80,
      13,
      10,
    ]);
    const e2 = await refused(await upload(t, "csv", bytes), 400, "bad_request");
    assert.match(e2.error.message, /UTF-8/);
    // A character reference to a surrogate in the workbook's XML (SheetJS reads it as NUL).
    const e3 = await refused(
      await upload(t, "excel", xlsxWithCell("x&#55296;")),
      422,
      "validation_failed",
    );
    assert.match(JSON.stringify(e3.error.details), /"name"/);
    const [{ n }] = await db.sql`select count(*)::int as n from dhis2_mappings`;
    assert.equal(n, 0);
  } finally {
    await t.close();
    await db.close();
  }
});

dbTest(
  "a JSON body under a form or multipart Content-Type is checked as JSON on the JSON routes",
  async () => {
    const db = await createTestDb("hostile_ctype");
    const t = await createSubmissionsApp(db);
    try {
      const admin = t.users.admin.headers.token;
      for (const type of ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
        // The routes parse JSON whatever the header says, so the header must not skip the check.
        const sub = await t.post(body({ ANC1: 1 }, { orgUnitName: "a\u0000b" }), {
          headers: { "Content-Type": type },
        });
        assert.equal(sub.status, 422, type);
        assert.equal((await sub.json()).error.details[0].field, "orgUnitName", type);
        const rq = await t.app.request("/api/v3/logs/requeue", {
          method: "POST",
          headers: { ...admin, "Content-Type": type },
          body: JSON.stringify({ filter: { q: "x\u0000" } }),
        });
        assert.equal(rq.status, 422, type);
        assert.equal((await rq.json()).error.details[0].field, "filter.q", type);
      }
    } finally {
      await t.close();
      await db.close();
    }
  },
);
