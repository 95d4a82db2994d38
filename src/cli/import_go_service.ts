/**
 * `dhis2gw import-go-service --from URI [--apply]`: brings a site's old Go service data into
 * dhis2gw (src/goservice/). A dry run by default: it prints what would be imported, cleaned and
 * skipped, and which old submissions never finished, and writes nothing.
 */
import { redactUrl, secretValues } from "../config/config.ts";
import { migrate } from "../db/migrate.ts";
import { openDatabase } from "../db/open.ts";
import { importGoService, type ImportReport } from "../goservice/apply.ts";
import { connectOld, countSubmissions, missingOldTables } from "../goservice/read.ts";
import { createLogger } from "../logs/logger.ts";
import type { Command, CommandContext } from "./command.ts";

const USAGE = `dhis2gw import-go-service --from <old database URI> [--apply] [options]

Reads the old Go service's tables (users, user_apitoken, dhis2_mappings, submission_log in
schema public of --from; never written) and imports them into dhis2gw's database (DHIS2GW_DB,
or the embedded one). Without --apply it is a dry run: it prints what would be imported and
writes nothing. Running --apply again imports only rows it has not imported before.

- users keep their passwords: the old bcrypt hash is checked at their next login and replaced
  by dhis2gw's; admins stay admins, other users become submitters
- active API tokens keep working as they are (stored hashed), for at most
  auth.token_max_lifetime_days
- mappings are cleaned (<nil>/0xc… combos, empty source/instance names) and reported
- the submission log becomes finished submissions; rows that never finished (their queue was
  in Redis) or failed are listed and imported as dead, to requeue with
  POST /api/v3/logs/{id}/requeue or POST /api/v3/logs/requeue

Leave the password out of --from and set PGPASSWORD instead, to keep it out of ps and history.`;

function line(ctx: CommandContext, text = "") {
  ctx.io.out(`${text}\n`);
}

function list(ctx: CommandContext, items: { old: string; reason: string }[], indent = "    ") {
  for (const i of items) line(ctx, `${indent}${i.old}: ${i.reason}`);
}

export function printReport(ctx: CommandContext, r: ImportReport): void {
  const verb = r.applied ? "imported" : "to import";
  const u = r.users;
  line(
    ctx,
    `users: ${u.imported.length} ${verb}, ${u.already} imported before, ` +
      `${u.merged.length} already in dhis2gw, ${u.skipped.length} skipped`,
  );
  for (const name of u.imported) line(ctx, `    ${name}`);
  for (const name of u.merged) line(ctx, `    ${name}`);
  list(ctx, u.skipped);
  for (const name of u.seededPassword) {
    line(
      ctx,
      `    ${name}: still has the password the old service seeded (@dm1n, public in ` +
        `its source): change it after the first login, or set one with ` +
        `dhis2gw user reset-password --username ${name} --password-stdin`,
    );
  }
  for (const name of u.noPassword) {
    line(
      ctx,
      `    ${name}: the old password hash is no bcrypt; set one with ` +
        `dhis2gw user reset-password --username ${name} --password-stdin`,
    );
  }
  const t = r.tokens;
  line(
    ctx,
    `API tokens: ${t.imported} ${verb}, ${t.already} imported before, ` +
      `${t.skipped.length} skipped`,
  );
  list(ctx, t.notes);
  list(ctx, t.skipped);
  const m = r.mappings;
  line(
    ctx,
    `mappings: ${m.imported} ${verb}, ${m.already} imported before, ` +
      `${m.cleaned.length} cleaned, ${m.skipped.length} skipped`,
  );
  list(ctx, m.cleaned);
  list(ctx, m.skipped);
  const s = r.submissions;
  const statuses = Object.entries(s.byStatus).sort().map(([k, n]) => `${n} ${k}`).join(", ");
  line(
    ctx,
    `submissions: ${s.imported} ${verb}${statuses ? ` (${statuses})` : ""}, ` +
      `${s.already} imported before`,
  );
  for (const kind of ["never_finished", "failed"] as const) {
    const items = s.requeue.filter((i) => i.kind === kind);
    if (!items.length) continue;
    line(
      ctx,
      kind === "never_finished"
        ? `  ${items.length} never finished in the old service (what its Redis queue held ` +
          `cannot be read); imported as dead, to requeue:`
        : `  ${items.length} failed in the old service; imported as dead, to requeue:`,
    );
    for (const i of items) {
      const id = r.applied ? `dhis2gw id ${i.newId}` : "dhis2gw id on --apply";
      line(
        ctx,
        `    old id ${i.oldId} (${id}) ${i.submittedAt.toISOString()} status ` +
          `${i.oldStatus ?? "(none)"} orgUnit ${i.orgUnit} period ${i.period} dataSet ` +
          `${i.dataSet}${i.requeueable ? "" : `: cannot be requeued as it is: ${i.why}`}`,
      );
    }
  }
  line(
    ctx,
    r.applied
      ? "done; requeue the dead ones an admin wants sent with POST /api/v3/logs/{id}/requeue"
      : "dry run: nothing was written; run again with --apply to import",
  );
}

export const importGoServiceCommand: Command = {
  summary: "import users, tokens, mappings and history from the old Go service's database",
  usage: USAGE,
  options: { from: { type: "string" }, apply: { type: "boolean" } },
  run: async (values, pos, ctx) => {
    const from = values.from as string | undefined;
    if (!from || pos.length) {
      ctx.io.err(`usage: ${USAGE}\n`);
      return 2;
    }
    if (!/^postgres(ql)?:\/\//.test(from)) {
      ctx.io.err("import-go-service: --from must be a postgres:// or postgresql:// URI\n");
      return 2;
    }
    const config = await ctx.loadConfig(values);
    if (!config) return 1;
    const log = createLogger({
      level: "warn",
      secrets: [...secretValues(config), ...urlPasswords(from)],
      sink: (l) => ctx.io.err(l + "\n"),
    });
    const old = connectOld(from);
    const db = await openDatabase(config, log, { shareRunning: true });
    try {
      const missing = await missingOldTables(old);
      if (missing.length) {
        ctx.io.err(
          `import-go-service: ${redactUrl(from)} has no ${missing.join(", ")} in schema public: ` +
            "not the old Go service's database\n",
        );
        return 1;
      }
      await migrate(db.sql, log);
      line(
        ctx,
        `reading the old Go service's tables at ${redactUrl(from)} ` +
          `(${await countSubmissions(old)} submission_log rows)`,
      );
      const report = await importGoService(db.sql, old, {
        apply: values.apply === true,
        tokenMaxDays: config.auth.token_max_lifetime_days,
        maxAttempts: config.server.max_retries + 1,
        payload: {
          mappingScheme: config.api.mapping_scheme,
          unmappedCodes: config.api.unmapped_codes,
          defaultDataSet: config.api.dhis2_data_set,
          defaultAttributeOptionCombo: config.api.dhis2_attribute_option_combo,
          completeByDefault: config.api.complete_data_set,
          timezone: config.server.timezone,
        },
      });
      printReport(ctx, report);
      return 0;
    } finally {
      await old.end({ timeout: 5 });
      await db.close();
    }
  },
};

function urlPasswords(uri: string): string[] {
  try {
    const p = decodeURIComponent(new URL(uri).password);
    return p ? [p] : [];
  } catch {
    return [];
  }
}
