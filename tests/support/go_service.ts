/** The old Go service's schema (tests/fixtures/go_service_schema.sql) in a test database. */
import type { Sql } from "../../src/db/db.ts";

const SCHEMA_SQL = new URL("../fixtures/go_service_schema.sql", import.meta.url);

/** Creates the old tables through `sql`, a pool whose search_path is `public`. */
export async function createOldServiceSchema(sql: Sql): Promise<void> {
  await sql.unsafe(await Deno.readTextFile(SCHEMA_SQL));
}
