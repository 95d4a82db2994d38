/**
 * The mappings at scale, on this machine, written to bench/results/mappings.json (not a test:
 * nothing here passes or fails):
 *
 *   1. a generated 100,000-row .xlsx (scripts/gen_mappings_xlsx.ts) imported through the real
 *      import service into an empty table, per phase; then the same file again (all unchanged);
 *   2. the submission path's cache: a full load of those rows, and the cost of one look-up;
 *   3. GET /mappings' name filter (a sequential scan) and an indexed filter, and an .xlsx export.
 *
 *   deno run -A scripts/bench_mappings.ts [--rows N]
 *
 * Uses DHIS2GW_DB when set (a real server), else a throwaway cluster started with initdb, which
 * runs with fsync off: the write phase is then faster than on a durable server.
 */
import { parseArgs } from "node:util";
import { connect } from "../src/db/db.ts";
import { migrate } from "../src/db/migrate.ts";
import { captureLogger } from "../src/logs/logger.ts";
import { MappingCache } from "../src/mappings/cache.ts";
import { mappingsToXlsx } from "../src/mappings/excel.ts";
import { importMappings, type ImportProgress } from "../src/mappings/import.ts";
import { exportMappings, listMappings, toInput } from "../src/mappings/queries.ts";
import { generateMappings } from "./gen_mappings_xlsx.ts";
import { benchDatabase } from "./pg_cluster.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { rows: { type: "string", default: "100000" } },
});
const rows = Number(values.rows);
const root = new URL("../", import.meta.url).pathname;
const ms = (since: number) => Math.round(performance.now() - since);

const db = await benchDatabase("bench_mappings");
const url = db.url;
const stopCluster = db.stop;
const database = db.label;
const sql = connect({ url, max: 4 });

/** Milliseconds spent in each phase, from the service's own progress events. */
function phaseTimer() {
  const phases: Record<string, number> = {};
  let current: { phase: string; at: number } | undefined;
  return {
    phases,
    onProgress: (p: ImportProgress) => {
      if (current?.phase === p.phase) return;
      const now = performance.now();
      if (current) phases[current.phase] = Math.round(now - current.at);
      current = { phase: p.phase, at: now };
    },
  };
}

try {
  await migrate(sql, captureLogger().log);
  await sql`truncate dhis2_mappings`;
  let t = performance.now();
  const file = mappingsToXlsx(generateMappings(rows));
  const generateMs = ms(t);
  console.log(`generated ${rows} rows: ${file.length} bytes in ${generateMs} ms`);

  const first = phaseTimer();
  t = performance.now();
  const created = await importMappings(sql, file, {
    format: "xlsx",
    mode: "upsert",
    dryRun: false,
    limits: { maxRows: rows },
    onProgress: first.onProgress,
  });
  const firstMs = ms(t);
  console.log(`import into an empty table: ${firstMs} ms`, first.phases, created);

  const again = phaseTimer();
  t = performance.now();
  const unchanged = await importMappings(sql, file, {
    format: "xlsx",
    mode: "replace",
    dryRun: false,
    limits: { maxRows: rows },
    onProgress: again.onProgress,
  });
  const againMs = ms(t);
  console.log(`same file again (replace, all unchanged): ${againMs} ms`, again.phases);

  let loaded = { rows: 0, ms: 0 };
  const cache = new MappingCache(sql, { onReload: (i) => (loaded = i) });
  await cache.start();
  await cache.stop();
  const codes = generateMappings(rows).filter((m) => m.what === "de").map((m) => m.code);
  const batch = codes.slice(0, 20); // a typical submission's number of values
  const rounds = 50_000;
  for (let i = 0; i < 1000; i++) await cache.resolve("default", batch); // warm up
  t = performance.now();
  for (let i = 0; i < rounds; i++) await cache.resolve("default", batch);
  const perSubmissionUs = ((performance.now() - t) * 1000) / rounds;
  t = performance.now();
  for (let i = 0; i < rounds; i++) {
    await cache.resolveOrgUnit("default", `OU-${(i % 1000) * 10 + 9}`);
  }
  const perOrgUnitUs = ((performance.now() - t) * 1000) / rounds;
  console.log(
    `cache: load ${loaded.rows} rows in ${loaded.ms} ms; resolve(20 codes) ${
      perSubmissionUs.toFixed(2)
    } µs, resolveOrgUnit ${perOrgUnitUs.toFixed(2)} µs`,
  );

  const timeQuery = async (fn: () => Promise<unknown>) => {
    await fn(); // warm the cache of PostgreSQL
    const s = performance.now();
    for (let i = 0; i < 10; i++) await fn();
    return Math.round(((performance.now() - s) / 10) * 10) / 10;
  };
  const page = { limit: 50, offset: 0 };
  const nameMs = await timeQuery(() => listMappings(sql, { name: "visit" }, page));
  const sourceMs = await timeQuery(() => listMappings(sql, { source_orgunit: "OU-99999" }, page));
  t = performance.now();
  const exported = mappingsToXlsx((await exportMappings(sql, {})).map(toInput));
  const exportMs = ms(t);
  console.log(
    `list: name filter ${nameMs} ms, source_orgunit filter ${sourceMs} ms; export ${exportMs} ms`,
  );

  const results = {
    date: new Date().toISOString(),
    machine: { cpus: navigator.hardwareConcurrency, deno: Deno.version.deno },
    database,
    rows,
    file: { bytes: file.length, generateMs },
    import: {
      emptyTable: { totalMs: firstMs, phasesMs: first.phases, report: created },
      sameFileAgain: { totalMs: againMs, phasesMs: again.phases, report: unchanged },
    },
    cache: {
      fullLoad: loaded,
      resolve20CodesMicroseconds: Number(perSubmissionUs.toFixed(3)),
      resolveOrgUnitMicroseconds: Number(perOrgUnitUs.toFixed(3)),
    },
    list: { nameSubstringMs: nameMs, sourceOrgUnitMs: sourceMs, exportXlsxMs: exportMs },
    exportBytes: exported.length,
  };
  await Deno.mkdir(`${root}bench/results`, { recursive: true });
  await Deno.writeTextFile(
    `${root}bench/results/mappings.json`,
    JSON.stringify(results, null, 2) + "\n",
  );
  console.log(`wrote bench/results/mappings.json`);
} finally {
  await sql.end();
  await stopCluster();
}
