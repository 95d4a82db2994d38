/**
 * `config check --connect`: tries what the configuration points at, the way `serve` will use
 * it: DHIS2's /api/system/info (reachable, which version), /api/me (the credentials, and the
 * authority to import data values) and the database (connects, migrations current).
 */
import type { Config } from "../config/config.ts";
import { loadMigrations, migrationStatus } from "../db/migrate.ts";
import { openDatabase } from "../db/open.ts";
import { createDhis2Client } from "../dhis2/client.ts";
import type { Logger } from "../logs/logger.ts";

export interface Check {
  ok: boolean;
  what: string;
  detail: string;
}

/** `POST /api/dataValueSets` needs one of these (reference §1.3). */
const IMPORT_AUTHORITIES = ["ALL", "F_DATAVALUE_ADD"];

export async function checkDhis2(config: Readonly<Config>): Promise<Check[]> {
  const a = config.api;
  if (!a.dhis2_base_url) {
    return [{ ok: false, what: "DHIS2", detail: "no api.dhis2_base_url to connect to" }];
  }
  const client = createDhis2Client({
    baseUrl: a.dhis2_base_url,
    auth: a.dhis2_auth_method === "pat"
      ? { method: "pat", token: a.dhis2_pat }
      : { method: "basic", username: a.dhis2_user, password: a.dhis2_password },
    connectTimeoutMs: Math.min(a.dhis2_connect_timeout * 1000, 10_000),
    timeoutMs: Math.min(a.dhis2_timeout * 1000, 20_000),
  });
  const out: Check[] = [];
  const info = await client.getSystemInfo();
  out.push(
    info.ok
      ? {
        ok: true,
        what: "DHIS2 /api/system/info",
        detail: `${client.apiUrl} answers, version ${String(info.value.version ?? "unknown")}`,
      }
      : { ok: false, what: "DHIS2 /api/system/info", detail: `${client.apiUrl}: ${info.error}` },
  );
  const me = await client.getMe();
  if (!me.ok) {
    const refused = me.httpStatus === 401 || me.httpStatus === 403;
    out.push({
      ok: false,
      what: "DHIS2 /api/me",
      detail: refused
        ? `DHIS2 refused the ${
          a.dhis2_auth_method === "pat" ? "PAT" : "user and password"
        } (HTTP ${me.httpStatus})`
        : me.error,
    });
    return out;
  }
  const who = me.value.username ?? me.value.id;
  out.push({ ok: true, what: "DHIS2 /api/me", detail: `signed in as ${who}` });
  const has = (me.value.authorities ?? []).filter((x) => IMPORT_AUTHORITIES.includes(x));
  out.push(
    has.length ? { ok: true, what: "DHIS2 authorities", detail: `${who} has ${has.join(", ")}` } : {
      ok: false,
      what: "DHIS2 authorities",
      detail: `${who} lacks F_DATAVALUE_ADD (or ALL), needed for POST /api/dataValueSets`,
    },
  );
  return out;
}

export async function checkDatabase(config: Readonly<Config>, log: Logger): Promise<Check> {
  const what = "database";
  if (!config.database.uri) {
    // Connecting would create the embedded database: only an existing one is tried.
    const made = await Deno.stat(`${config.server.data_dir}/postgres/PG_VERSION`).then(
      () => true,
      () => false,
    );
    if (!made) {
      return {
        ok: true,
        what,
        detail:
          `the embedded database in ${config.server.data_dir}/postgres does not exist yet; serve creates it`,
      };
    }
  }
  try {
    const db = await openDatabase(config, log, { shareRunning: true });
    try {
      const s = await migrationStatus(db.sql, await loadMigrations());
      return {
        ok: true,
        what,
        detail: `connected${db.embedded ? " (embedded)" : ""}; ${
          s.current ? "migrations are current" : `migrations: ${s.reason}`
        }`,
      };
    } finally {
      await db.close();
    }
  } catch (err) {
    return { ok: false, what, detail: (err as Error).message };
  }
}
