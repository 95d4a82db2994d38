/**
 * Every JSON request body in the OpenAPI document has an example, and each example, sent as
 * Swagger UI's "Try it out" would send it, succeeds against the demo's setup (scripts/demo.ts:
 * its admin, its clinic system's API token as shown, its mappings, the DHIS2 simulator).
 */
import assert from "node:assert/strict";
import { setUpSample } from "../scripts/sample.ts";
import { EXAMPLES_NEEDING_A_REPLY } from "../src/http/request_examples.ts";
import { DEMO_ENV, startConsoleGateway } from "./support/console.ts";
import { dbTest } from "./support/pg.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

dbTest("every request body's example succeeds against the demo", async () => {
  const g = await startConsoleGateway("openapi_examples", { env: DEMO_ENV });
  try {
    const api = `${g.base}/api/v3`;
    const sample = await setUpSample(api);
    const doc = await (await fetch(`${g.base}/openapi.json`)).json();
    const ops: { key: string; method: string; path: string; examples: unknown[] }[] = [];
    const missing: string[] = [];
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
      for (const [method, op] of Object.entries(item as Record<string, Json>)) {
        const content = op.requestBody?.content as Record<string, Json> | undefined;
        if (!content) continue;
        const key = `${method.toUpperCase()} ${path}`;
        // A file upload: Swagger UI shows a file picker, there is nothing to pre-fill.
        if (content["multipart/form-data"]) continue;
        const media = content["application/json"];
        const examples = media?.example !== undefined
          ? [media.example]
          : Object.values(media?.examples ?? {}).map((e: Json) => e.value);
        if (!examples.length) missing.push(key);
        ops.push({ key, method, path, examples });
      }
    }
    assert.deepEqual(missing, [], "request bodies without an example");

    // Creating comes before updating the thing created; the path's ids are the demo's.
    const order = (k: string) => (k.startsWith("POST /api/v3/mappings") ? 0 : 1);
    ops.sort((a, b) => order(a.key) - order(b.key));
    const tokens = await g.api("GET", `/users/${sample.clinicUid}/tokens`, sample.adminToken);
    const ids: Record<string, string> = { uid: sample.clinicUid, id: String(tokens.items[0].id) };
    const results: string[] = [];
    for (const op of ops) {
      for (const example of op.examples) {
        let path = op.path.replace(/\{(\w+)\}/g, (_, name) => ids[name]);
        if (op.path === "/api/v3/mappings/{uid}") path = `/api/v3/mappings/${ids.mapping}`;
        // The clinic system submits with its API token exactly as it was shown; the rest is
        // the demo's admin.
        const authorization = op.key === "POST /api/v3/aggregate"
          ? sample.apiToken
          : `Bearer ${sample.adminToken}`;
        const res = await fetch(`${g.base}${path}`, {
          method: op.method.toUpperCase(),
          headers: { Authorization: authorization, "Content-Type": "application/json" },
          body: JSON.stringify(example),
        });
        const body = await res.json();
        if (op.key === "POST /api/v3/mappings") ids.mapping = body.uid;
        if (op.key === "POST /api/v3/aggregate") assert.equal(body.unmapped_codes, undefined);
        const expected = EXAMPLES_NEEDING_A_REPLY.has(op.key) ? 401 : "2xx";
        const got = res.status >= 200 && res.status < 300 ? "2xx" : res.status;
        if (got !== expected) results.push(`${op.key}: ${res.status} ${JSON.stringify(body)}`);
      }
    }
    assert.deepEqual(results, []);
    assert.ok(ops.some((o) => o.key === "POST /api/v3/aggregate"));
  } finally {
    await g.stop();
  }
});
