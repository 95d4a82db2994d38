/**
 * Writes an N-row mappings workbook for benchmarks of the importer.
 *
 *   deno run --allow-write scripts/gen_mappings_xlsx.ts 100000 /tmp/mappings_100k.xlsx [--time]
 *
 * Rows look like real ones: unique codes (some with leading zeros), a few data sets and category
 * option combos shared by many rows, random data element UIDs, one row in ten an org unit mapping.
 * With --time it also parses and validates the file it wrote and prints how long that took.
 */
import { generateUid } from "../src/dhis2/uid.ts";
import { mappingsToXlsx, parseMappingsXlsx } from "../src/mappings/excel.ts";
import type { MappingInput } from "../src/mappings/model.ts";
import { validateRows } from "../src/mappings/validate.ts";

export function generateMappings(n: number): MappingInput[] {
  const dataSets = Array.from({ length: 5 }, generateUid);
  const cocs = Array.from({ length: 12 }, generateUid);
  const names = ["ANC 1st visit", "Vaccination BCG é", "Niño < 5", "Abaana abalwadde omusujja"];
  const out: MappingInput[] = [];
  for (let i = 0; i < n; i++) {
    const ou = i % 10 === 9;
    out.push({
      code: i % 3 === 0 ? String(i).padStart(7, "0") : `C${i}`,
      what: ou ? "ou" : "de",
      name: `${names[i % names.length]} #${i}`,
      description: i % 4 === 0 ? 'imported, checked; "ok"' : "",
      dataSet: ou ? "" : dataSets[i % dataSets.length],
      dataElement: ou ? "" : generateUid(),
      categoryOptionCombo: ou ? "" : cocs[i % cocs.length],
      attributeOptionCombo: "",
      categoryOption: "",
      categoryCombo: "",
      instanceName: "default",
      sourceName: "default",
      sourceOrgUnit: ou ? `OU-${i}` : "",
      destinationOrgUnit: ou ? generateUid() : "",
    });
  }
  return out;
}

if (import.meta.main) {
  const [countArg, path] = Deno.args.filter((a) => !a.startsWith("--"));
  const n = Number(countArg);
  if (!Number.isInteger(n) || n < 0 || !path) {
    console.error("usage: gen_mappings_xlsx.ts <rows> <out.xlsx> [--time]");
    Deno.exit(2);
  }
  let t = performance.now();
  const bytes = mappingsToXlsx(generateMappings(n));
  await Deno.writeFile(path, bytes);
  console.log(`wrote ${path}: ${n} rows, ${bytes.length} bytes in ${ms(t)}`);
  if (Deno.args.includes("--time")) {
    t = performance.now();
    const parsed = parseMappingsXlsx(bytes);
    const parseMs = ms(t);
    t = performance.now();
    const checked = validateRows(parsed.rows);
    console.log(
      `parse ${parseMs}, validate ${ms(t)}: ${checked.mappings.length} valid rows, ` +
        `${parsed.problems.length + checked.problems.length} problems`,
    );
  }
}

function ms(since: number): string {
  return `${Math.round(performance.now() - since)} ms`;
}
