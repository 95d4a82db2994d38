/**
 * The metadata API's query language as far as the simulator needs it (reference §7.1):
 * `fields` selections and `filter=property:operator:value`.
 */

type Obj = Record<string, unknown>;

// ---- `fields` (§7.1): `a,b[c,d[e]]`, `!x`, presets `*`, `:all`, `:identifiable`, `:nameable`

export type FieldTree = Map<string, FieldTree | null>;

export function parseFields(spec: string): FieldTree {
  let pos = 0;
  function level(): FieldTree {
    const tree: FieldTree = new Map();
    let name = "";
    const flush = (sub: FieldTree | null) => {
      const n = name.trim();
      if (n) tree.set(n, sub);
      name = "";
    };
    while (pos < spec.length) {
      const ch = spec[pos++];
      if (ch === "[" || ch === "(") flush(level());
      else if (ch === "]" || ch === ")") break;
      else if (ch === ",") flush(null);
      else name += ch;
    }
    if (name.trim()) flush(null);
    return tree;
  }
  return level();
}

const PRESETS: Record<string, string[]> = {
  ":identifiable": ["id", "name", "code", "created", "lastUpdated"],
  ":nameable": ["id", "name", "code", "created", "lastUpdated", "shortName", "description"],
};

/** Applies a field tree; a reference asked for without sub-fields is cut to `{id}`. */
export function project(value: Obj, fields: FieldTree): Obj {
  const wanted = new Map<string, FieldTree | null>();
  for (const [name, sub] of fields) {
    if (name === "*" || name === ":all" || name === ":owner" || name === ":persisted") {
      for (const key of Object.keys(value)) if (!wanted.has(key)) wanted.set(key, null);
    } else if (PRESETS[name]) {
      for (const key of PRESETS[name]) if (!wanted.has(key)) wanted.set(key, null);
    } else if (!name.startsWith("!")) {
      wanted.set(name, sub);
    }
  }
  for (const name of fields.keys()) if (name.startsWith("!")) wanted.delete(name.slice(1));
  const out: Obj = {};
  for (const [name, sub] of wanted) {
    const v = value[name];
    if (v === undefined || v === null) continue; // NON_NULL serialisation (§2)
    out[name] = shape(v, sub);
  }
  return out;
}

function shape(v: unknown, sub: FieldTree | null): unknown {
  if (Array.isArray(v)) return v.map((x) => shape(x, sub));
  if (typeof v !== "object" || v === null) return v;
  const o = v as Obj;
  if (sub && sub.size > 0) return project(o, sub);
  return "id" in o ? { id: o.id } : o;
}

// ---- `filter=property:operator:value` (§7.1); dotted paths look through collections

function valuesAt(o: unknown, path: string[]): unknown[] {
  if (path.length === 0) return Array.isArray(o) ? o : [o];
  if (Array.isArray(o)) return o.flatMap((x) => valuesAt(x, path));
  if (typeof o !== "object" || o === null) return [];
  return valuesAt((o as Obj)[path[0]], path.slice(1));
}

export function compileFilter(filter: string): (o: Obj) => boolean {
  const [property, operator, ...valueParts] = filter.split(":");
  const operand = valueParts.join(":");
  const path = property.split(".");
  const list = () => operand.replace(/^\[|\]$/g, "").split(",").map((s) => s.trim());
  const str = (x: unknown) => (x === undefined || x === null ? null : String(x));
  const anyValue = (test: (s: string) => boolean) => (o: Obj) =>
    valuesAt(o, path).some((x) => str(x) !== null && test(str(x)!));
  switch (operator) {
    case "eq":
      return anyValue((s) => s === operand);
    case "ieq":
      return anyValue((s) => s.toLowerCase() === operand.toLowerCase());
    case "!eq":
    case "ne":
      return (o) => !anyValue((s) => s === operand)(o);
    case "in":
      return anyValue((s) => list().includes(s));
    case "!in":
      return (o) => !anyValue((s) => list().includes(s))(o);
    case "like":
      return anyValue((s) => s.includes(operand));
    case "ilike":
      return anyValue((s) => s.toLowerCase().includes(operand.toLowerCase()));
    case "!like":
      return (o) => !anyValue((s) => s.includes(operand))(o);
    case "!ilike":
      return (o) => !anyValue((s) => s.toLowerCase().includes(operand.toLowerCase()))(o);
    case "null":
      return (o) => valuesAt(o, path).every((x) => x === undefined || x === null);
    case "!null":
      return (o) => valuesAt(o, path).some((x) => x !== undefined && x !== null);
    default:
      throw new Error(`Unsupported filter operator: ${operator}`);
  }
}
