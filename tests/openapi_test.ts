import assert from "node:assert/strict";
import { Validator } from "@seriousme/openapi-schema-validator";
import { ROLES } from "../src/auth/principal.ts";
import { openApiDocument, UNDOCUMENTED_PREFIXES } from "../src/http/docs.ts";
import { FILTER_KEYS } from "../src/submissions/filters.ts";
import { createTestApp } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

// deno-lint-ignore no-explicit-any
type Json = any;
interface Operation {
  key: string;
  method: string;
  path: string;
  op: Json;
}

function operations(doc: Json): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const [method, op] of Object.entries(item as Record<string, Json>)) {
      out.push({ key: `${method.toUpperCase()} ${path}`, method, path, op });
    }
  }
  return out;
}

/** Follows `#/components/schemas/...` references. */
function resolve(doc: Json, schema: Json): Json {
  while (schema?.$ref) schema = doc.components.schemas[schema.$ref.split("/").pop()];
  return schema;
}

/** A schema that says nothing about the reply: `{}`, or an object with no known properties. */
function saysNothing(schema: Json): boolean {
  if (!schema) return true;
  const words = Object.keys(schema).filter((k) => !["description", "example", "title"].includes(k));
  if (!words.length) return true;
  const extra = schema.additionalProperties;
  return schema.type === "object" && !schema.properties && !schema.anyOf && !schema.oneOf &&
    !schema.allOf && (extra === undefined || extra === true || saysNothing(extra));
}

/** The error envelope: `{ error: { code, message, details?, requestId } }`. */
function isEnvelope(doc: Json, schema: Json): boolean {
  const outer = resolve(doc, schema);
  const inner = resolve(doc, outer?.properties?.error);
  return !!outer?.required?.includes("error") &&
    ["code", "message", "requestId"].every((k) =>
      inner?.properties?.[k] !== undefined && inner.required?.includes(k)
    );
}

/** Every response's shape: 2xx with a schema that says something, 4xx/5xx with the envelope. */
function responseProblems(doc: Json): string[] {
  const problems: string[] = [];
  for (const { key, op } of operations(doc)) {
    for (const [status, response] of Object.entries(op.responses as Record<string, Json>)) {
      const content = response.content as Record<string, Json> | undefined;
      if (/^2/.test(status)) {
        if (status === "204") continue;
        if (!content || !Object.keys(content).length) problems.push(`${key} ${status}: no content`);
        for (const [type, media] of Object.entries(content ?? {})) {
          if (saysNothing(resolve(doc, media.schema))) {
            problems.push(`${key} ${status} ${type}: no schema, or an empty object`);
          }
        }
      } else if (Number(status) >= 400) {
        if (!isEnvelope(doc, content?.["application/json"]?.schema)) {
          problems.push(`${key} ${status}: not the error envelope`);
        }
      }
    }
    const roles = op["x-roles"] as string[] | undefined;
    if (roles && !op.responses["401"]) problems.push(`${key}: secured, but no 401`);
    if (roles && !ROLES.every((r) => roles.includes(r)) && !op.responses["403"]) {
      problems.push(`${key}: refuses some roles, but no 403`);
    }
  }
  return problems;
}

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

dbTest("every response has a schema and every error the envelope", async () => {
  const db = await createTestDb("openapi_responses");
  try {
    const { app } = await createTestApp(db);
    const doc = await (await app.request("/openapi.json")).json();
    assert.deepEqual(responseProblems(doc), []);
    const error = doc.components.schemas.Error;
    assert.ok(isEnvelope(doc, error), "the Error component is the envelope");
    assert.equal(error.example.error.code, "validation_failed", "the Error component's example");

    // The checks above are not vacuous.
    const broken = structuredClone(doc);
    const list = broken.paths["/api/v3/logs"].get;
    list.responses["200"].content["application/json"].schema = {
      type: "object",
      additionalProperties: {},
    };
    delete list.responses["422"].content;
    delete list.responses["401"];
    assert.deepEqual(responseProblems(broken), [
      "GET /api/v3/logs 200 application/json: no schema, or an empty object",
      "GET /api/v3/logs 422: not the error envelope",
      "GET /api/v3/logs: secured, but no 401",
    ]);

    // The logs filters, with the old service's names, are documented.
    const params = (doc.paths["/api/v3/logs"].get.parameters as { name: string }[])
      .map((p) => p.name);
    for (const key of FILTER_KEYS) assert.ok(params.includes(key), `GET /api/v3/logs ?${key}`);
  } finally {
    await db.close();
  }
});

dbTest("every operation whose handler reads a body documents it", async () => {
  const db = await createTestDb("openapi_bodies");
  try {
    const { app, users } = await createTestApp(db);
    const doc = await (await app.request("/openapi.json")).json();
    const readers: string[] = [];
    for (const { key, method, path, op } of operations(doc)) {
      if (!["post", "put", "patch", "delete"].includes(method) || op.requestBody) continue;
      // Ids nothing has, so no route changes anything here.
      const url = path.replace(/\{[^}]+\}/g, "00000000-0000-0000-0000-000000000000");
      const body = JSON.stringify({ ids: [1] });
      const req = new Request(`http://localhost${url}`, {
        method: method.toUpperCase(),
        headers: {
          ...users.admin.headers.bearer,
          "Content-Type": "application/json",
          "Content-Length": String(body.length),
        },
        body,
      });
      const res = await app.request(req);
      await res.body?.cancel();
      if (req.bodyUsed) readers.push(key);
    }
    assert.deepEqual(readers, [], "these read a JSON body the document does not declare");

    // Each body Swagger UI offers for the batch requeue is one the route takes.
    const examples = doc.paths["/api/v3/logs/requeue"].post.requestBody.content["application/json"]
      .examples as Record<string, { value: unknown }>;
    assert.deepEqual(Object.keys(examples).sort(), ["filter", "ids", "task_ids"]);
    for (const [name, { value }] of Object.entries(examples)) {
      const res = await app.request("/api/v3/logs/requeue", {
        method: "POST",
        headers: { ...users.admin.headers.bearer, "Content-Type": "application/json" },
        body: JSON.stringify(value),
      });
      assert.equal(res.status, 200, `${name}: ${await res.text()}`);
    }
  } finally {
    await db.close();
  }
});

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
