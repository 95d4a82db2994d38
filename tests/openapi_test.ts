import assert from "node:assert/strict";
import { Validator } from "@seriousme/openapi-schema-validator";
import { openApiDocument, UNDOCUMENTED_PREFIXES } from "../src/http/docs.ts";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

/** The operations the app really serves, as `METHOD /path/{param}`. */
function servedOperations(routes: { method: string; path: string }[]): Set<string> {
  const out = new Set<string>();
  for (const r of routes) {
    if (r.method === "ALL" || r.path.includes("*")) continue; // middleware
    if (UNDOCUMENTED_PREFIXES.some((p) => r.path === p || r.path.startsWith(`${p}/`))) continue;
    out.add(`${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, "{$1}")}`);
  }
  return out;
}

dbTest(
  "the OpenAPI document is valid 3.1 and lists exactly the routes the app serves",
  async () => {
    const db = await createTestDb("openapi");
    try {
      const { app } = await createTestApp(db);
      const res = await app.request("/openapi.json");
      assert.equal(res.status, 200);
      const doc = await res.json();
      assert.equal(doc.openapi, "3.1.0");

      const validator = new Validator();
      const result = await validator.validate(doc);
      assert.deepEqual(result.errors ?? [], [], JSON.stringify(result.errors, null, 2));
      assert.equal(result.valid, true);

      assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), [
        "Basic",
        "Bearer",
        "Token",
      ]);
      const documented = new Set<string>();
      for (
        const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      ) {
        for (const method of Object.keys(item)) documented.add(`${method.toUpperCase()} ${path}`);
      }
      assert.deepEqual([...documented].sort(), [...servedOperations(app.routes)].sort());
      assert.deepEqual(openApiDocument(app).paths, doc.paths);
    } finally {
      await db.close();
    }
  },
);

dbTest("Swagger UI and its assets are served by the app itself", async () => {
  const db = await createTestDb("swagger");
  try {
    const { app } = await createTestApp(db);
    for (const path of ["/swagger/", "/swagger/index.html"]) {
      const res = await app.request(path);
      assert.equal(res.status, 200);
      const html = await res.text();
      assert.match(html, /\/swagger\/assets\/swagger-ui-dist\/swagger-ui-bundle\.js/);
      assert.doesNotMatch(html, /https?:\/\//, "no absolute (CDN) URL in the page");
    }
    const js = await app.request("/swagger/assets/swagger-ui-dist/swagger-ui-bundle.js");
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type")!, /javascript/);
    assert.ok((await js.arrayBuffer()).byteLength > 100_000);
    const css = await app.request("/swagger/assets/swagger-ui-dist/swagger-ui.css");
    assert.equal(css.status, 200);
    await css.body?.cancel();
    const bad = await app.request("/swagger/assets/swagger-ui-dist/..%2Fpackage.json");
    assert.equal(bad.status, 404);
    assert.equal((await bad.json()).error.code, "not_found");
  } finally {
    await db.close();
  }
});
