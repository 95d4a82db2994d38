/**
 * The first admin. There is no default password anywhere: on the first start with no users,
 * the admin gets `auth.admin_password` (DHIS2GW_ADMIN_PASSWORD) or a generated one that is
 * printed exactly once, in the one log line that deliberately carries a secret.
 */
import { Buffer } from "node:buffer";
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import { goServiceNotImported } from "../db/schema.ts";
import { generateUid } from "../dhis2/uid.ts";
import type { Logger } from "../logs/logger.ts";
import { checkPasswordPolicy, hashPassword } from "./password.ts";
import { countUsers, insertUser } from "./queries.ts";
import { randomSecretBytes } from "./secrets.ts";

// Any fixed 64-bit key, distinct from the migration lock's.
const BOOTSTRAP_LOCK = 7_216_020_555_003;

export class BootstrapError extends Error {}

/** The users.username check constraint, tested first so a bad name gets a clear message. */
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{2,63}$/;

/** 18 random bytes as base64url: 24 characters, 144 bits. */
export function generatePassword(): string {
  for (;;) {
    const pw = Buffer.from(randomSecretBytes(18)).toString("base64url");
    if (checkPasswordPolicy(pw).length === 0) return pw;
  }
}

/**
 * Creates the admin if the users table is empty. Replicas starting together serialize on an
 * advisory lock, so exactly one creates it and only that one prints a generated password.
 */
export async function bootstrapAdmin(
  sql: Sql,
  config: Readonly<Config>,
  log: Logger,
): Promise<{ created: boolean; generated: boolean }> {
  const username = config.auth.admin_username;
  const given = config.auth.admin_password;
  if (!USERNAME.test(username)) {
    throw new BootstrapError(
      "auth.admin_username (env DHIS2GW_ADMIN_USERNAME) must be 3-64 letters, digits or . _ @ + -, starting with a letter or digit",
    );
  }
  if (given) {
    const reasons = checkPasswordPolicy(given, { username });
    if (reasons.length) {
      // The reasons never quote the password.
      throw new BootstrapError(
        `auth.admin_password (env DHIS2GW_ADMIN_PASSWORD) is too weak: it ${reasons.join("; it ")}`,
      );
    }
  }
  // On the old Go service's database the admins come from `import-go-service`, with their old
  // passwords; an `admin` made here first would take the old admin's name (migrate() has
  // already said so in its notice).
  if (await goServiceNotImported(sql)) return { created: false, generated: false };
  const password = given || generatePassword();
  const hash = await hashPassword(password);
  const created = await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`;
    if (await countUsers(tx) > 0) return false;
    await insertUser(tx, { uid: generateUid(), username, password_hash: hash, role: "admin" });
    return true;
  });
  if (!created) return { created: false, generated: false };
  if (given) {
    log.info("created the first admin user with the password from DHIS2GW_ADMIN_PASSWORD", {
      username,
    });
    return { created: true, generated: false };
  }
  // The deliberate exception to "no secret in a log line": the operator has no other way to
  // learn this password. It is a fresh value the logger has never been told to scrub; right
  // after printing it becomes one, so no later line can ever repeat it.
  log.warn(
    `created the first admin user "${username}" with the generated password ${password} ; ` +
      "it is shown only this once: log in and change it now (PUT /api/v3/users/{uid}), " +
      "or set one with: dhis2gw user reset-password --username " + username +
      " --password-stdin",
    { username },
  );
  log.addSecret(password);
  return { created: true, generated: true };
}
