/**
 * `dhis2gw user create | reset-password | list`: account administration without HTTP, for the
 * first setup and for the day the last admin forgets their password. Passwords come from
 * standard input only (`--password-stdin`): a command-line argument would end up in the shell
 * history and in `ps` for every local user to read.
 */
import { type Role, ROLES } from "../auth/principal.ts";
import { listUsers, updateUser, userByUsername } from "../auth/queries.ts";
import {
  insertApiToken,
  revokeUserApiTokens,
  revokeUserRefreshTokens,
} from "../auth/token_queries.ts";
import { hashToken, parseApiToken } from "../auth/secrets.ts";
import { LEGACY_TOKEN } from "../auth/service.ts";
import { PG, pgCode, type Sql } from "../db/db.ts";
import { assertStrongPassword, createUser } from "../auth/users.ts";
import { hashPassword } from "../auth/password.ts";
import { clearUsernameThrottle } from "../auth/throttle.ts";
import { secretValues } from "../config/config.ts";
import { migrate } from "../db/migrate.ts";
import { openDatabase } from "../db/open.ts";
import { insertAudit } from "../audit/queries.ts";
import { AppError } from "../http/errors.ts";
import { createLogger } from "../logs/logger.ts";
import { cliActor, type Command, type CommandContext } from "./command.ts";

const USAGE = `dhis2gw user create --username U --role admin|submitter|viewer --password-stdin
                     [--source-name NAME]
       dhis2gw user reset-password --username U --password-stdin [--keep-api-tokens]
       dhis2gw user list
       dhis2gw user import-token --username U --name NAME --token-stdin

import-token keeps an old client working unchanged: it stores the hash of the 40-hex API
token that client already sends as "Authorization: Token …" (from the old service's
user_apitoken table) as an API token of user U. It expires auth.token_max_lifetime_days
from now, like every API token.

reset-password ends the user's sessions and revokes their API tokens; --keep-api-tokens
leaves the API tokens working (an integration that must not stop).

The password is read from standard input (one line), e.g.
  printf '%s\\n' "$PASSWORD" | dhis2gw user create --username hmis --role submitter --password-stdin`;

async function readStdin(ctx: CommandContext): Promise<string> {
  const text = ctx.io.readStdin
    ? await ctx.io.readStdin()
    : await new Response(Deno.stdin.readable).text();
  // Only the line ending a pipe or heredoc adds; other whitespace may be part of a passphrase.
  return text.replace(/\r?\n$/, "");
}

/** Why a CLI call fails, in one line, e.g. every reason a password is too weak. */
function describe(err: unknown): string {
  if (err instanceof AppError) {
    const details = Array.isArray(err.details)
      ? (err.details as Array<{ field: string; message: string }>)
        .map((d) => `${d.field} ${d.message}`).join("; ")
      : "";
    return details && !err.message.includes(details) ? `${err.message} (${details})` : err.message;
  }
  return (err as Error).message;
}

/** An audit row for a CLI action: the actor is the OS account that ran the command. */
function auditCli(
  sql: Sql,
  ctx: CommandContext,
  action: string,
  target: string,
  details: Record<string, unknown>,
) {
  return insertAudit(sql, {
    actor_uid: null,
    actor_username: cliActor(ctx.io.env),
    via: "cli",
    action,
    target,
    details,
    request_id: null,
    client_ip: null,
  });
}

function pad(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

async function importToken(
  sql: Sql,
  username: string,
  name: string,
  token: string,
  maxDays: number,
  ctx: CommandContext,
): Promise<number> {
  const value = token.trim();
  if (!LEGACY_TOKEN.test(value) && parseApiToken(value) === null) {
    ctx.io.err("user import-token: standard input is not an old 40-hex token or a d2gw_ token\n");
    return 1;
  }
  const user = await userByUsername(sql, username);
  if (!user) {
    ctx.io.err(`user import-token: no user named ${username}\n`);
    return 1;
  }
  const row = await insertApiToken(sql, {
    user_id: user.id,
    name,
    // Shown in token lists to tell tokens apart: 32 of a legacy token's 160 bits.
    prefix: parseApiToken(value) ?? value.slice(0, 8),
    token_hash: hashToken(value),
    source_name: null,
    expires: new Date(Date.now() + maxDays * 86_400_000),
  }).catch((err) => {
    if (pgCode(err) === PG.uniqueViolation) throw new Error("this token is already imported");
    throw err;
  });
  await auditCli(sql, ctx, "token.import", user.uid, {
    username: user.username,
    name,
    id: row.id,
  });
  ctx.io.out(
    `imported API token ${row.id} (${row.prefix}…) for ${user.username}, ` +
      `expires ${row.expires.toISOString()}\n`,
  );
  return 0;
}

export const userCommand: Command = {
  summary: "create users, reset passwords, list users, import old API tokens (secrets from stdin)",
  usage: USAGE,
  options: {
    username: { type: "string" },
    role: { type: "string" },
    "password-stdin": { type: "boolean" },
    "source-name": { type: "string" },
    name: { type: "string" },
    "token-stdin": { type: "boolean" },
    "keep-api-tokens": { type: "boolean" },
  },
  run: async (values, pos, ctx) => {
    const action = pos[0];
    if (!["create", "reset-password", "list", "import-token"].includes(action)) {
      ctx.io.err(`usage: ${USAGE}\n`);
      return 2;
    }
    const username = values.username as string | undefined;
    if (action !== "list") {
      if (!username) {
        ctx.io.err(`user ${action}: --username is required\n`);
        return 2;
      }
      if (action === "import-token") {
        if (!values["token-stdin"] || !values.name) {
          ctx.io.err("user import-token: --name and --token-stdin are required\n");
          return 2;
        }
      } else if (!values["password-stdin"]) {
        ctx.io.err(
          `user ${action}: give the password on standard input with --password-stdin (never as an argument)\n`,
        );
        return 2;
      }
    }
    const role = (values.role ?? (action === "create" ? undefined : "")) as string | undefined;
    if (action === "create" && !ROLES.includes(role as Role)) {
      ctx.io.err(`user create: --role must be one of ${ROLES.join(", ")}\n`);
      return 2;
    }
    // The password, or for import-token the token: standard input either way.
    const password = action === "list" ? "" : await readStdin(ctx);

    const config = await ctx.loadConfig(values);
    if (!config) return 1;
    // Logs to stderr and only warnings, so stdout holds just the command's answer.
    const log = createLogger({
      level: "warn",
      secrets: [...secretValues(config), ...(password.length >= 4 ? [password] : [])],
      sink: (line) => ctx.io.err(line + "\n"),
    });
    const db = await openDatabase(config, log, { shareRunning: true });
    try {
      await migrate(db.sql, log);
      if (action === "create") {
        const user = await createUser(db.sql, {
          username: username!,
          password,
          role: role as Role,
          sourceName: values["source-name"] as string | undefined,
        });
        await auditCli(db.sql, ctx, "user.create", user.uid, {
          username: user.username,
          role: user.role,
        });
        ctx.io.out(`created user ${user.username} (uid ${user.uid}, role ${user.role})\n`);
        return 0;
      }
      if (action === "import-token") {
        return await importToken(
          db.sql,
          username!,
          values.name as string,
          password,
          config.auth.token_max_lifetime_days,
          ctx,
        );
      }
      if (action === "reset-password") {
        const user = await userByUsername(db.sql, username!);
        if (!user) {
          ctx.io.err(`user reset-password: no user named ${username}\n`);
          return 1;
        }
        assertStrongPassword(password, user.username);
        const hash = await hashPassword(password);
        const keep = values["keep-api-tokens"] === true;
        const revoked = await db.sql.begin(async (tx) => {
          await updateUser(tx, user.id, { password_hash: hash });
          await revokeUserRefreshTokens(tx, user.id);
          return keep ? 0 : await revokeUserApiTokens(tx, user.id);
        });
        await clearUsernameThrottle(db.sql, user.username);
        await auditCli(db.sql, ctx, "user.reset_password", user.uid, {
          username: user.username,
          revokedApiTokens: revoked,
          keptApiTokens: keep,
        });
        const tokens = keep ? "their API tokens are kept" : `${revoked} API token(s) revoked`;
        ctx.io.out(
          `password of ${user.username} changed; their sessions are revoked, ${tokens} ` +
            `(running servers accept the old credentials for up to auth.credential_cache_ttl ` +
            `seconds)\n`,
        );
        return 0;
      }
      const { rows } = await listUsers(db.sql, {}, { limit: 100_000, offset: 0 });
      const table = [["UID", "USERNAME", "ROLE", "ACTIVE", "SOURCE", "LAST LOGIN"]];
      for (const u of rows) {
        table.push([
          u.uid,
          u.username,
          u.role,
          u.is_active ? "yes" : "no",
          u.source_name,
          u.last_login?.toISOString() ?? "never",
        ]);
      }
      ctx.io.out(pad(table) + "\n");
      return 0;
    } catch (err) {
      ctx.io.err(`user ${action}: ${describe(err)}\n`);
      return 1;
    } finally {
      await db.close();
    }
  },
};
