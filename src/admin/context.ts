/**
 * What the console's parts are given. Its own module so the views, the fragment router that
 * mounts them and the console's routes all import it and none imports another's router.
 */
import type { Context } from "hono";
import type { AuthService } from "../auth/service.ts";
import type { Role } from "../auth/principal.ts";
import type { Config } from "../config/config.ts";
import type { Sql } from "../db/db.ts";
import type { AppEnv } from "../http/env.ts";
import type { Api, ApiFetch } from "./api.ts";
import type { ConsoleSessions } from "./session.ts";
import type { MetadataNames } from "./metadata_names.ts";

export interface AdminDeps {
  config: Readonly<Config>;
  auth?: AuthService;
  /** For the console's sessions (session.ts); absent only in tests without a database. */
  sql?: Sql;
  /** The app's own fetch, so fragments call /api/v3 in-process as the signed-in user. */
  api: ApiFetch;
  /** Names for UIDs; default: from the configured DHIS2 (metadata_names.ts). */
  names?: MetadataNames;
}

/** Given to every fragment: the signed-in user's API client and role. */
export interface FragmentContext {
  config: Readonly<Config>;
  api(c: Context<AppEnv>): Api;
  role(c: Context<AppEnv>): Role;
  isAdmin(c: Context<AppEnv>): boolean;
  /** The console's sign-ins, to start a new one after a password change. */
  sessions?: ConsoleSessions;
  names: MetadataNames;
}
