/**
 * Broken mapping files for tests/fuzz_test.ts: CSV with hostile cells, bad quoting and bytes
 * that are not UTF-8; workbooks truncated, bit-flipped, with hostile cells, or with XML
 * character references SheetJS turns into NUL; and plain garbage behind a ZIP or OLE2 magic.
 */
import * as XLSX from "@e965/xlsx";
import fc from "fast-check";
import { hostileString } from "./fuzz_requests.ts";

export interface FuzzFile {
  endpoint: "csv" | "excel";
  query: string;
  bytes: Uint8Array;
}

const HEADERS = [
  ["code", "dataElement", "name"],
  ["what", "code", "source_orgunit", "destination_orgunit"],
  ["code", "name", "dataElement", "categoryOptionCombo", "source_name", "instance_name"],
  ["CODE ", " Data Element", "NAME"],
  ["code", "code", "name"],
  ["\u0000", "\ud800", ""],
];

const cell = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  { weight: 2, arbitrary: fc.constantFrom("ANC1", "f7n9E0hX8qk", "de", "ou", "DiszpKrYNg8", "") },
);
const table = fc.tuple(
  fc.constantFrom(...HEADERS),
  fc.array(fc.array(cell, { minLength: 0, maxLength: 7 }), { maxLength: 6 }),
);

const utf8 = (s: string) => new TextEncoder().encode(s);

function quote(s: string, style: number): string {
  if (style === 0) return s;
  if (style === 1) return `"${s.replaceAll('"', '""')}"`;
  return `"${s}`; // an unterminated quote
}

const csvBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(table, fc.constantFrom(",", ";", "\t"), fc.nat(2), fc.boolean())
      .map(([[header, rows], sep, style, bom]) => {
        const lines = [header, ...rows].map((r) => r.map((c) => quote(c, style)).join(sep));
        return utf8((bom ? "\ufeff" : "") + lines.join("\r\n"));
      }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  {
    weight: 1,
    arbitrary: fc.tuple(table, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(
      ([[header, rows], junk]) => {
        const text = utf8([header, ...rows].map((r) => r.join(",")).join("\n"));
        const out = new Uint8Array(text.length + junk.length);
        const at = Math.floor(text.length / 2);
        out.set(text.subarray(0, at));
        out.set(junk.map((b) => b | 0x80), at); // high bytes: rarely valid UTF-8
        out.set(text.subarray(at), at + junk.length);
        return out;
      },
    ),
  },
);

function workbook(header: string[], rows: string[][]): Uint8Array {
  // Excel's own cap on a cell (SheetJS refuses to write more).
  const cap = (r: string[]) => r.map((c) => c.slice(0, 32_767));
  const ws = XLSX.utils.aoa_to_sheet([cap(header), ...rows.map(cap)]);
  const wb = XLSX.utils.book_new();
  XLSX.utils.book_append_sheet(wb, ws, "mappings");
  return new Uint8Array(XLSX.write(wb, { type: "array", bookType: "xlsx", compression: false }));
}

/** A stored workbook with one cell's text replaced in the XML by `xml` (9 characters). */
function patched(xml: string): Uint8Array {
  const out = workbook(["code", "dataElement", "name"], [["A1", "f7n9E0hX8qk", "x_MARKER_"]]);
  const at = new TextDecoder("latin1").decode(out).indexOf("x_MARKER_");
  out.set(utf8(xml.padEnd(9, " ").slice(0, 9)), at);
  return out;
}

function withMagic(magic: number[], junk: Uint8Array): Uint8Array {
  const out = new Uint8Array(magic.length + junk.length);
  out.set(magic);
  out.set(junk, magic.length);
  return out;
}

export function xlsxBytes(template: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 3, arbitrary: table.map(([h, rows]) => workbook(h, rows)) },
    { weight: 2, arbitrary: fc.nat({ max: template.length - 1 }).map((n) => template.slice(0, n)) },
    {
      weight: 2,
      arbitrary: fc.array(fc.tuple(fc.nat({ max: template.length - 1 }), fc.nat(255)), {
        minLength: 1,
        maxLength: 8,
      }).map((flips) => {
        const out = template.slice();
        for (const [at, b] of flips) out[at] = b;
        return out;
      }),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom("x&#55296;", "&#0;", "_x0000_", "]]><x", "<&>", "&#1114112;")
        .map(patched),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 200 }).map((j) => withMagic([0x50, 0x4b, 3, 4], j)),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 600 }).map((j) =>
        withMagic([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], j)
      ),
    },
  );
}

/** An upload to one of the two import routes: right or wrong format, odd query options. */
export function fuzzFile(template: Uint8Array): fc.Arbitrary<FuzzFile> {
  const query = fc.tuple(
    fc.constantFrom("", "dryRun=true", "dryRun=false", "dryRun=%00"),
    fc.constantFrom("", "mode=merge", "mode=replace", "mode=%ED%A0%80", "mode=x"),
  ).map((parts) => parts.filter(Boolean).join("&"));
  return fc.record({
    endpoint: fc.constantFrom<"csv" | "excel">("csv", "excel"),
    query,
    bytes: fc.oneof(csvBytes, xlsxBytes(template)),
  });
}
