/**
 * The JWT signing key: `auth.jwt_secret` when configured, else one generated on the first start
 * and kept in `auth_settings`, so every replica (and every restart) signs and verifies with the
 * same key. Whichever replica inserts first wins; the others read its value back.
 */
import { Buffer } from "node:buffer";
import type { Config } from "../config/config.ts";
import type { Db } from "../db/db.ts";
import type { Logger } from "../logs/logger.ts";
import { keyFromSecret } from "./jwt.ts";
import { settingOnce } from "./queries.ts";
import { randomSecretBytes } from "./secrets.ts";

const SETTING = "jwt_key";
/** 48 random bytes as base64url: 64 characters, 384 bits, well over HS256's 256-bit minimum. */
const GENERATED_BYTES = 48;

export async function loadJwtKey(
  sql: Db,
  config: Readonly<Config>,
  log: Logger,
): Promise<Uint8Array> {
  if (config.auth.jwt_secret) return keyFromSecret(config.auth.jwt_secret);
  const candidate = Buffer.from(randomSecretBytes(GENERATED_BYTES)).toString("base64url");
  const stored = await settingOnce(sql, SETTING, candidate);
  // From here on the key is scrubbed from any log line that might quote it.
  log.addSecret(stored);
  if (stored === candidate) {
    log.info("generated a JWT signing key and stored it in the database (auth_settings)");
  }
  return keyFromSecret(stored);
}
