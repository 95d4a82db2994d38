import { parseArgs } from "node:util";
import { stringify as toYaml } from "yaml";
import { redactedView, secretValues } from "../config/config.ts";
import { migrate } from "../db/migrate.ts";
import { openDatabase } from "../db/open.ts";
import { createLogger } from "../logs/logger.ts";
import { VERSION } from "../version.ts";
import { configWarnings } from "../config/warnings.ts";
import { checkDatabase, checkDhis2 } from "./config_connect.ts";
import { CONFIG_FLAGS, readConfig } from "./config_source.ts";
import { startGateway } from "./gateway.ts";
import { importGoServiceCommand } from "./import_go_service.ts";
import { mappingsCommand } from "./mappings.ts";
import { userCommand } from "./user.ts";
import type { CliIo, Command, CommandContext } from "./command.ts";

export type { CliIo, Command, CommandContext };

export const CONFIG_OPTIONS = {
  config: { type: "string" },
  "config-file": { type: "string" },
  port: { type: "string" },
  host: { type: "string" },
  db: { type: "string" },
  "data-dir": { type: "string" },
  "log-level": { type: "string" },
} as const;

const CONFIG_USAGE = `
Configuration options (flags beat env vars, which beat the file, which beats defaults):
  --config PATH        YAML file (also --config-file, or env DHIS2GW_CONFIG)
  --port N             server.port (DHIS2GW_SERVER_PORT, default 9090)
  --host ADDR          server.host (DHIS2GW_HOST)
  --db URL             database.uri (DHIS2GW_DB); unset = embedded database
  --data-dir DIR       server.data_dir (DHIS2GW_DATA_DIR, default ./dhis2gw-data)
  --log-level LEVEL    server.log_level (DHIS2GW_LOG_LEVEL)`;

export const COMMANDS: Record<string, Command> = {
  serve: {
    summary: "run the API and the delivery worker (the default command)",
    usage: `dhis2gw serve [--no-worker | --worker-only] [options]
  --no-worker          serve the API only (scale workers separately)
  --worker-only        run the delivery worker only, no HTTP API`,
    options: { "no-worker": { type: "boolean" }, "worker-only": { type: "boolean" } },
    run: async (values, _pos, ctx) => {
      if (values["no-worker"] && values["worker-only"]) {
        ctx.io.err("--no-worker and --worker-only exclude each other\n");
        return 2;
      }
      const config = await ctx.loadConfig(values);
      if (!config) return 1;
      const log = ctx.logger(config);
      for (const warning of configWarnings(config)) log.warn("configuration", { warning });
      const gw = await startGateway(config, log, {
        api: !values["worker-only"],
        worker: !values["no-worker"],
      });
      // SIGHUP: the config file again (a bad one is refused whole), then the TLS pair.
      ctx.io.onReload?.(() =>
        void (async () => {
          const next = await readConfig(configArgs(values), ctx.io.env);
          if (!next.config) {
            log.error("configuration reload refused; the running configuration stays", {
              problems: next.problems,
            });
          } else gw.reload(next.config);
          await gw.reloadTls();
        })().catch((err) => log.error("reload failed", { error: err as Error }))
      );
      const signal = await ctx.io.stopSignal();
      log.info("stopping", { signal });
      await gw.stop();
      return 0;
    },
  },
  migrate: {
    summary: "apply pending database migrations and exit",
    usage: "dhis2gw migrate [options]",
    run: async (values, _pos, ctx) => {
      const config = await ctx.loadConfig(values);
      if (!config) return 1;
      const log = ctx.logger(config);
      const db = await openDatabase(config, log, { shareRunning: true });
      try {
        const { applied } = await migrate(db.sql, log);
        ctx.io.out(
          applied.length
            ? `applied migrations ${applied.join(", ")}\n`
            : "database is up to date\n",
        );
        return 0;
      } finally {
        await db.close();
      }
    },
  },
  config: {
    summary: "config check: print the effective configuration (secrets redacted)",
    usage: `dhis2gw config check [--connect] [options]
  --connect            also try DHIS2 (/api/system/info, /api/me, the import authority)
                       and the database; exits 1 when one fails`,
    options: { connect: { type: "boolean" } },
    run: async (values, pos, ctx) => {
      if (pos[0] !== "check") {
        ctx.io.err("usage: dhis2gw config check [--connect] [options]\n");
        return 2;
      }
      const result = await readConfig(configArgs(values), ctx.io.env);
      if (!result.config) {
        ctx.io.err(
          `configuration has ${result.problems.length} problem(s):\n${
            result.problems.map((p) => `  - ${p}`).join("\n")
          }\n`,
        );
        // Every problem and every warning in one run: fixing the problems must not be what
        // reveals that deliveries cannot work either.
        for (const w of result.warnings) ctx.io.err(`warning: ${w}\n`);
        return 1;
      }
      ctx.io.out(`# config file: ${result.filePath ?? "(none)"}\n`);
      for (const note of result.notes) ctx.io.out(`# note: ${note}\n`);
      for (const w of result.warnings) ctx.io.err(`warning: ${w}\n`);
      ctx.io.out(toYaml(redactedView(result.config)));
      if (!values.connect) return 0;
      const config = result.config;
      const quiet = createLogger({
        level: "error",
        secrets: secretValues(config),
        sink: (l) => ctx.io.err(`${l}\n`),
      });
      const checks = [...await checkDhis2(config), await checkDatabase(config, quiet)];
      for (const c of checks) {
        (c.ok ? ctx.io.out : ctx.io.err)(`${c.ok ? "ok" : "problem"}: ${c.what}: ${c.detail}\n`);
      }
      return checks.every((c) => c.ok) ? 0 : 1;
    },
  },
  user: userCommand,
  mappings: mappingsCommand,
  "import-go-service": importGoServiceCommand,
  version: {
    summary: "print the version",
    usage: "dhis2gw version",
    run: (_v, _p, ctx) => {
      ctx.io.out(`dhis2gw ${VERSION}\n`);
      return Promise.resolve(0);
    },
  },
};

function configArgs(values: Record<string, unknown>) {
  const flags: Record<string, string> = {};
  for (const [flag, key] of Object.entries(CONFIG_FLAGS)) {
    if (typeof values[flag] === "string") flags[key] = values[flag] as string;
  }
  const configPath = (values.config ?? values["config-file"]) as string | undefined;
  return { configPath, flags };
}

function helpText(): string {
  const width = Math.max(10, ...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)} ${c.summary}`);
  return `dhis2gw ${VERSION}: a gateway from third-party systems to DHIS2

usage: dhis2gw [command] [options]   (no command = serve)

commands:
${lines.join("\n")}

Run "dhis2gw COMMAND --help" for a command's options.
${CONFIG_USAGE}
`;
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let [name, ...rest] = argv;
  if (name === undefined || name.startsWith("-")) {
    if (name === "--help" || name === "-h") {
      io.out(helpText());
      return 0;
    }
    if (name === "--version") name = "version";
    else {
      rest = argv;
      name = "serve";
    }
  }
  if (name === "help") {
    io.out(helpText());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`unknown command "${name}"\n\n${helpText()}`);
    return 2;
  }
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args: rest,
      options: { ...CONFIG_OPTIONS, ...command.options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    values = parsed.values as Record<string, unknown>;
    positionals = parsed.positionals;
  } catch (err) {
    io.err(`${(err as Error).message}\n\nusage: ${command.usage}\n`);
    return 2;
  }
  if (values.help) {
    io.out(`usage: ${command.usage}\n${CONFIG_USAGE}\n`);
    return 0;
  }
  // Notes about the config file, logged once the command has a logger.
  let notes: string[] = [];
  const ctx: CommandContext = {
    args: rest,
    io,
    loadConfig: async (v) => {
      const result = await readConfig(configArgs(v), io.env);
      notes = result.notes;
      if (!result.config) {
        io.err(
          `configuration has ${result.problems.length} problem(s):\n${
            result.problems.map((p) => `  - ${p}`).join("\n")
          }\n`,
        );
        return undefined;
      }
      return result.config;
    },
    logger: (config) => {
      const log = createLogger({ level: config.server.log_level, secrets: secretValues(config) });
      for (const note of notes.splice(0)) log.warn("config key ignored", { note });
      return log;
    },
  };
  try {
    return await command.run(values, positionals, ctx);
  } catch (err) {
    io.err(`dhis2gw ${name}: ${(err as Error).message}\n`);
    return 1;
  }
}
