/**
 * `dhis2gw mappings import | export`: the same import service and exporters as the API, against
 * the configured database (DHIS2GW_DB, or the embedded one when no server runs on it). Running
 * replicas see an import within mappings.cache_refresh seconds (src/mappings/cache.ts).
 */
import { secretValues } from "../config/config.ts";
import { migrate } from "../db/migrate.ts";
import { destinationNames } from "../config/warnings.ts";
import { openDatabase } from "../db/open.ts";
import { insertAudit } from "../audit/queries.ts";
import { AppError } from "../http/errors.ts";
import { createLogger } from "../logs/logger.ts";
import { mappingsToCsv } from "../mappings/csv.ts";
import { fetchMetadataSnapshot, metadataClientFromConfig } from "../mappings/dhis2_snapshot.ts";
import { mappingsToXlsx } from "../mappings/excel.ts";
import type { Problem } from "../mappings/formats.ts";
import { type ImportFormat, importMappings, type ImportProgress } from "../mappings/import.ts";
import { looksLikeWorkbook } from "../mappings/read_file.ts";
import { exportMappings, toInput } from "../mappings/queries.ts";
import { cliActor, type Command, type CommandContext } from "./command.ts";

const USAGE = `dhis2gw mappings import FILE [--dry-run] [--mode upsert|replace] [--validate-dhis2]
       dhis2gw mappings export FILE [--source NAME] [--instance NAME]

FILE ends in .csv, .xlsx or .xls. import is all or nothing: a file with any problem changes
nothing and its problems are listed (row, column, value, why). --mode replace makes the file
the complete set of each source_name/instance_name it has rows for.`;

/** Problems printed on a terminal before "and N more"; the API lists up to 1000. */
const PROBLEMS_PRINTED = 50;

function formatOf(path: string, bytes?: Uint8Array): ImportFormat | undefined {
  if (/\.csv$/i.test(path)) return "csv";
  if (/\.xlsx?$/i.test(path)) return "xlsx";
  if (bytes) return looksLikeWorkbook(bytes) ? "xlsx" : "csv";
  return undefined;
}

/** One line rewritten in place, only on a terminal: a log file gets no carriage returns. */
function progressPrinter(ctx: CommandContext): ((p: ImportProgress) => void) | undefined {
  if (!Deno.stderr.isTerminal()) return undefined;
  let last = 0;
  return (p) => {
    const now = performance.now();
    if (p.phase === "write" && p.done < p.total && now - last < 200) return;
    last = now;
    const label = {
      read: "reading and checking the file",
      dhis2: "checking against DHIS2",
      compare: "comparing with the database",
      write: "writing",
      done: "done",
    }[p.phase];
    const count = p.total > 0 ? ` ${p.done}/${p.total}` : "";
    ctx.io.err(`\r\x1b[K${label}${count}${p.phase === "done" ? "\n" : ""}`);
  };
}

function printProblems(ctx: CommandContext, err: AppError): void {
  ctx.io.err(`${err.message}\n`);
  const problems = Array.isArray(err.details) ? (err.details as Problem[]) : [];
  if (problems.length <= 1) return; // the message already quotes the only one
  for (const p of problems.slice(0, PROBLEMS_PRINTED)) {
    const col = p.column ? ` ${p.column}` : "";
    const value = p.value ? ` "${p.value}"` : "";
    ctx.io.err(`  row ${p.row}${col}${value}: ${p.message}\n`);
  }
  if (problems.length > PROBLEMS_PRINTED) {
    ctx.io.err(`  … and ${problems.length - PROBLEMS_PRINTED} more listed by the API\n`);
  }
}

export const mappingsCommand: Command = {
  summary: "import mappings from, or export them to, a CSV or Excel file",
  usage: USAGE,
  options: {
    "dry-run": { type: "boolean" },
    mode: { type: "string" },
    "validate-dhis2": { type: "boolean" },
    source: { type: "string" },
    instance: { type: "string" },
  },
  run: async (values, pos, ctx) => {
    const [action, path] = pos;
    if (!["import", "export"].includes(action) || !path || pos.length > 2) {
      ctx.io.err(`usage: ${USAGE}\n`);
      return 2;
    }
    const mode = (values.mode as string | undefined) ?? "upsert";
    if (mode !== "upsert" && mode !== "replace") {
      ctx.io.err(`mappings import: --mode must be upsert or replace, not "${mode}"\n`);
      return 2;
    }
    if (action === "export" && !formatOf(path)) {
      ctx.io.err("mappings export: FILE must end in .csv or .xlsx (the format follows it)\n");
      return 2;
    }
    const config = await ctx.loadConfig(values);
    if (!config) return 1;
    // Warnings only, on stderr, so stdout holds just the command's answer.
    const log = createLogger({
      level: "warn",
      secrets: secretValues(config),
      sink: (line) => ctx.io.err(line + "\n"),
    });

    let bytes: Uint8Array | undefined;
    if (action === "import") {
      try {
        // Checked before reading: a mistaken 5 GB path must not be read into memory first.
        const { size } = await Deno.stat(path);
        if (size > config.mappings.import_max_bytes) {
          ctx.io.err(
            `mappings import: ${path} is ${size} bytes; the limit is ` +
              `${config.mappings.import_max_bytes} (mappings.import_max_bytes)\n`,
          );
          return 1;
        }
        bytes = await Deno.readFile(path);
      } catch (err) {
        ctx.io.err(`mappings import: cannot read ${path}: ${(err as Error).message}\n`);
        return 1;
      }
    }

    const db = await openDatabase(config, log, { shareRunning: true });
    try {
      await migrate(db.sql, log);
      if (action === "export") {
        const rows = await exportMappings(db.sql, {
          source: values.source as string | undefined,
          instance_name: values.instance as string | undefined,
        });
        const mappings = rows.map(toInput);
        const out = formatOf(path) === "csv"
          ? new TextEncoder().encode(mappingsToCsv(mappings))
          : mappingsToXlsx(mappings);
        await Deno.writeFile(path, out);
        ctx.io.out(`exported ${rows.length} mappings to ${path}\n`);
        return 0;
      }

      const api = config.api;
      const client = values["validate-dhis2"] ? metadataClientFromConfig(config) : undefined;
      const r = await importMappings(db.sql, bytes!, {
        format: formatOf(path, bytes)!,
        mode,
        dryRun: values["dry-run"] === true,
        limits: {
          maxBytes: config.mappings.import_max_bytes,
          maxRows: config.mappings.import_max_rows,
        },
        metadata: client
          ? (rows) => fetchMetadataSnapshot(client, rows, [api.dhis2_data_set].filter(Boolean))
          : undefined,
        onProgress: progressPrinter(ctx),
        destinations: destinationNames(config),
      });
      for (const w of r.warnings) ctx.io.err(`warning: ${w}\n`);
      if (!r.dryRun) {
        await insertAudit(db.sql, {
          actor_uid: null,
          actor_username: cliActor(ctx.io.env),
          via: "cli",
          action: "mappings.import",
          target: null,
          details: {
            file: path,
            mode: r.mode,
            rows: r.rows,
            created: r.created,
            updated: r.updated,
            deleted: r.deleted,
          },
          request_id: null,
          client_ip: null,
        });
      }
      const verb = r.dryRun ? "would be" : "were";
      ctx.io.out(
        `${path}: ${r.rows} rows; ${r.created} ${verb} created, ${r.updated} updated, ` +
          `${r.unchanged} unchanged, ${r.deleted} deleted (${r.mode}` +
          `${r.validatedAgainstDhis2 ? ", checked against DHIS2" : ""})` +
          `${r.dryRun ? "; dry run: nothing was changed" : ""}\n`,
      );
      return 0;
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      if (Deno.stderr.isTerminal()) ctx.io.err("\n");
      printProblems(ctx, err);
      return 1;
    } finally {
      await db.close();
    }
  },
};
