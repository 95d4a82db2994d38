import { loadConfig, type LoadResult } from "../config/config.ts";

export const DEFAULT_CONFIG_PATH = "/etc/dhis2gw/dhis2gw.yml";

/** Flags every command takes that set configuration keys, by YAML key. */
export const CONFIG_FLAGS: Record<string, string> = {
  port: "server.port",
  host: "server.host",
  db: "database.uri",
  "data-dir": "server.data_dir",
  "log-level": "server.log_level",
};

export interface ConfigArgs {
  configPath?: string;
  flags: Record<string, string>;
}

/**
 * Reads the YAML file named by --config / --config-file / DHIS2GW_CONFIG, or the old
 * service's default path when it exists, and parses it with env and flags on top.
 */
export async function readConfig(
  args: ConfigArgs,
  env: Record<string, string | undefined>,
): Promise<LoadResult & { filePath?: string }> {
  let filePath = args.configPath ?? env.DHIS2GW_CONFIG;
  let explicit = true;
  if (!filePath) {
    filePath = DEFAULT_CONFIG_PATH;
    explicit = false;
  }
  let fileText: string | undefined;
  try {
    fileText = await Deno.readTextFile(filePath);
  } catch (err) {
    if (explicit) {
      return {
        problems: [`cannot read config file ${filePath}: ${(err as Error).message}`],
        notes: [],
        warnings: [],
        sources: {},
      };
    }
    filePath = undefined;
  }
  return { ...loadConfig({ fileText, filePath, env, flags: args.flags }), filePath };
}
