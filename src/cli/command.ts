/** What a CLI command is and what it is given; each command's module and cli.ts share it. */
import type { Config } from "../config/config.ts";
import type { Logger } from "../logs/logger.ts";

export interface CliIo {
  env: Record<string, string | undefined>;
  out: (text: string) => void;
  err: (text: string) => void;
  /** Resolves when the process is asked to stop (SIGTERM/SIGINT). */
  stopSignal: () => Promise<string>;
  /** Calls `reload` on SIGHUP (the TLS certificate is read again). */
  onReload?: (reload: () => void) => void;
  /** All of standard input (`user create --password-stdin`); Deno.stdin when absent. */
  readStdin?: () => Promise<string>;
}

export interface CommandContext {
  args: string[];
  io: CliIo;
  /** Parses config from the command's --config/--port/… flags, env and file; exits on problems. */
  loadConfig: (values: Record<string, unknown>) => Promise<Readonly<Config> | undefined>;
  logger: (config: Readonly<Config>) => Logger;
}

export interface Command {
  summary: string;
  usage: string;
  options?: Record<string, { type: "string" | "boolean"; short?: string }>;
  run: (
    values: Record<string, unknown>,
    positionals: string[],
    ctx: CommandContext,
  ) => Promise<number>;
}

/**
 * Who ran a CLI command, for the audit trail: the OS account (sudo's caller first). A service,
 * cron or a container's exec often has no name in its environment: then the uid, which still
 * tells root from the service's account.
 */
export function cliActor(
  env: CliIo["env"],
  uid: () => number | null = () => Deno.uid(),
): string {
  const name = env.SUDO_USER || env.USER || env.LOGNAME;
  if (name) return `cli:${name}`;
  const id = uid();
  return id === null ? "cli:unknown" : `cli:uid ${id}`;
}
