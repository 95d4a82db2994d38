/**
 * The layering of src/ (scripts/import_graph.ts): no import cycle, src/http/app.ts imported only
 * by the entry points, and the folder rules (config/ imports no other part of src/, the queue no
 * kind...). Checked on the real tree, and on small graphs that break each rule, so the check
 * itself is seen to catch what it is for.
 */
import assert from "node:assert/strict";
import { cycles, type Graph, importsOf, problems, readGraph } from "../scripts/import_graph.ts";

const root = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

const graph = (edges: Record<string, string[]>): Graph => ({
  edges: new Map(Object.entries(edges)),
});

Deno.test("src/ has no import cycle and keeps its layers", async () => {
  const g = await readGraph(root);
  // Guards against a walk that silently reads nothing (then every rule would hold).
  assert.ok(g.edges.size > 100, `read only ${g.edges.size} files`);
  assert.ok(g.edges.get("src/http/app.ts")?.includes("src/admin/routes.ts"));
  assert.deepEqual(problems(g), []);
});

Deno.test("a re-introduced cycle is reported with every file in it", () => {
  // The admin console's old cycle: the fragment router imports the views, a view imports it back.
  const g = graph({
    "src/admin/routes.ts": ["src/admin/fragments.ts"],
    "src/admin/fragments.ts": ["src/admin/users_view.tsx", "src/admin/context.ts"],
    "src/admin/users_view.tsx": ["src/admin/fragments.ts", "src/admin/components.tsx"],
    "src/admin/components.tsx": [],
    "src/admin/context.ts": [],
  });
  assert.deepEqual(cycles(g), [["src/admin/fragments.ts", "src/admin/users_view.tsx"]]);
  assert.deepEqual(problems(g), [
    "import cycle among 2 files: src/admin/fragments.ts, src/admin/users_view.tsx",
  ]);
  // Without the back edge the same graph is clean.
  g.edges.set("src/admin/users_view.tsx", ["src/admin/components.tsx"]);
  assert.deepEqual(problems(g), []);
});

Deno.test("a longer cycle and a file importing itself are cycles too", () => {
  const g = graph({
    "src/a/x.ts": ["src/b/y.ts"],
    "src/b/y.ts": ["src/c/z.ts"],
    "src/c/z.ts": ["src/a/x.ts"],
    "src/d/self.ts": ["src/d/self.ts"],
  });
  assert.deepEqual(problems(g), [
    "import cycle among 3 files: src/a/x.ts, src/b/y.ts, src/c/z.ts",
    "import cycle among 1 files: src/d/self.ts",
  ]);
});

Deno.test("only the entry points may import src/http/app.ts", () => {
  const g = graph({
    "src/http/app.ts": ["src/http/router.ts"],
    "src/http/router.ts": [],
    "src/cli/gateway.ts": ["src/http/app.ts"],
    "src/submissions/routes.ts": ["src/http/app.ts"],
  });
  assert.deepEqual(problems(g), [
    "src/submissions/routes.ts imports src/http/app.ts, which only the entry points may import",
  ]);
});

Deno.test("config/ imports no other part of src/; mappings/ does not import submissions/", () => {
  const g = graph({
    "src/config/config.ts": ["src/config/env.ts", "src/http/cors.ts"],
    "src/config/env.ts": [],
    "src/http/cors.ts": [],
    "src/mappings/cache.ts": ["src/submissions/mapping_lookup.ts"],
    "src/submissions/mapping_lookup.ts": [],
  });
  assert.deepEqual(problems(g), [
    "src/config/config.ts imports src/http/cors.ts: config/ imports no other part of src/",
    "src/mappings/cache.ts imports src/submissions/mapping_lookup.ts: " +
    "mappings do not know their user",
  ]);
});

Deno.test("the queue imports no kind and nothing of DHIS2", () => {
  const g = graph({
    "src/queue/worker.ts": ["src/queue/kind.ts", "src/aggregate/kind.ts"],
    "src/queue/queries.ts": ["src/queue/kind.ts", "src/dhis2/outcome.ts"],
    "src/queue/kind.ts": [],
    "src/aggregate/kind.ts": ["src/queue/kind.ts", "src/dhis2/outcome.ts"],
    "src/dhis2/outcome.ts": ["src/queue/kind.ts"],
  });
  assert.deepEqual(problems(g), [
    "src/queue/worker.ts imports src/aggregate/kind.ts: the queue imports no kind",
    "src/queue/queries.ts imports src/dhis2/outcome.ts: " +
    "the queue knows kinds only by their interface",
  ]);
});

Deno.test("imports are read from import/export statements, not from comments or strings", () => {
  const src = [
    `import { a } from "./a.ts";`,
    `import type { B } from "../b/b.ts";`,
    `export { c } from "./c.ts";`,
    `const d = await import("./d.ts");`,
    `import "./side_effect.ts";`,
    `// import { e } from "./commented.ts";`,
    `/** import { f } from "./doc.ts"; */`,
    `import { z } from "npm:zod";`,
  ].join("\n");
  assert.deepEqual(importsOf(src), [
    "./a.ts",
    "../b/b.ts",
    "./c.ts",
    "./d.ts",
    "./side_effect.ts",
    "npm:zod",
  ]);
});
