/**
 * The import graph of `src/` and the layering rules it must keep (STYLE.md, issue 11):
 * no import cycle among `src/` files; `src/http/app.ts` (the composition root's app factory)
 * imported only by entry points; `config/` importing no other part of `src/`; and the domain
 * boundaries in RULES. `deno task imports` prints the problems; tests/import_graph_test.ts
 * asserts there are none and that a re-introduced cycle is caught.
 */

export interface Graph {
  /** Repo-relative path -> repo-relative paths it imports (only files inside the repo). */
  edges: Map<string, string[]>;
}

const IMPORT_RE =
  /(?:^|[;\s])(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\sfrom\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** Strips comments so an example in a doc comment is not taken for an import. */
function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

export function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of stripComments(source).matchAll(IMPORT_RE)) out.push(m[1] ?? m[2]);
  return out;
}

function resolve(from: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined; // npm: and bare specifiers are outside the graph
  const parts = from.split("/").slice(0, -1);
  for (const p of spec.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts.join("/");
}

/** Reads every .ts/.tsx file under `dirs` of `root` (tests excluded: `*_test.ts`). */
export async function readGraph(root: string, dirs = ["src"]): Promise<Graph> {
  const edges = new Map<string, string[]>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(`${root}/${dir}`)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (/\.tsx?$/.test(e.name) && !/_test\.tsx?$/.test(e.name)) {
        const text = await Deno.readTextFile(`${root}/${path}`);
        edges.set(
          path,
          importsOf(text).map((s) => resolve(path, s)).filter((p): p is string => !!p),
        );
      }
    }
  };
  for (const d of dirs) await walk(d);
  return { edges };
}

/** Strongly connected components with more than one file (or a file importing itself). */
export function cycles(g: Graph): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.edges.get(v) ?? []) {
      if (!g.edges.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.edges.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of [...g.edges.keys()].sort()) if (!idx.has(v)) visit(v);
  return found;
}

/** Which files may import which: `from` (a folder prefix) must not import `to`. */
export const RULES: ReadonlyArray<{ from: string; to: string; why: string }> = [
  { from: "src/config/", to: "src/", why: "config/ imports no other part of src/" },
  { from: "src/mappings/", to: "src/submissions/", why: "mappings do not know their user" },
  { from: "src/queue/", to: "src/dhis2/", why: "the queue knows kinds only by their interface" },
  { from: "src/queue/", to: "src/aggregate/", why: "the queue imports no kind" },
  { from: "src/queue/", to: "src/submissions/", why: "the queue imports no kind" },
  { from: "src/queue/", to: "src/tracker/", why: "the queue imports no kind" },
  {
    from: "src/dhis2/",
    to: "src/simulator/",
    why: "the production client does not need the simulator",
  },
];

/** The entry points allowed to import the app factory. */
const APP = "src/http/app.ts";
const APP_IMPORTERS = ["src/cli/gateway.ts"];

export function problems(g: Graph): string[] {
  const out: string[] = [];
  for (const scc of cycles(g)) {
    out.push(`import cycle among ${scc.length} files: ${scc.join(", ")}`);
  }
  for (const [file, deps] of g.edges) {
    if (deps.includes(APP) && !APP_IMPORTERS.includes(file)) {
      out.push(`${file} imports ${APP}, which only the entry points may import`);
    }
    for (const r of RULES) {
      if (!file.startsWith(r.from)) continue;
      for (const d of deps) {
        if (d.startsWith(r.to) && !d.startsWith(r.from)) {
          out.push(`${file} imports ${d}: ${r.why}`);
        }
      }
    }
  }
  return out;
}

if (import.meta.main) {
  const root = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
  const found = problems(await readGraph(root));
  for (const p of found) console.log(p);
  console.log(found.length ? `${found.length} problem(s)` : "import graph: no problems");
  Deno.exit(found.length ? 1 : 0);
}
