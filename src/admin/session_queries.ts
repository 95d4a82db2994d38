/** SQL for console_sessions (migrations/0015), the console's cookie sign-ins. */
import type { Db } from "../db/db.ts";

export interface ConsoleSessionRow {
  id: number;
  user_id: number;
  token_generation: number;
  auth_time: Date;
  last_seen: Date;
  expires: Date;
}

export async function insertConsoleSession(
  sql: Db,
  s: {
    tokenHash: string;
    userId: number;
    tokenGeneration: number;
    authTime: Date;
    expires: Date;
  },
): Promise<void> {
  await sql`insert into console_sessions
      (token_hash, user_id, token_generation, auth_time, expires)
    values (${s.tokenHash}, ${s.userId}, ${s.tokenGeneration}, ${s.authTime}, ${s.expires})`;
}

export async function consoleSessionByHash(
  sql: Db,
  tokenHash: string,
): Promise<ConsoleSessionRow | undefined> {
  const [row] = await sql<ConsoleSessionRow[]>`
    select id, user_id::int as user_id, token_generation, auth_time, last_seen, expires
    from console_sessions where token_hash = ${tokenHash}`;
  return row;
}

/** Marks the session used; at most once a minute, so a busy page costs no write per request. */
export async function touchConsoleSession(sql: Db, id: number): Promise<void> {
  await sql`update console_sessions set last_seen = now()
    where id = ${id} and last_seen < now() - interval '1 minute'`;
}

export async function deleteConsoleSession(sql: Db, tokenHash: string): Promise<number> {
  const r = await sql`delete from console_sessions where token_hash = ${tokenHash}`;
  return r.count;
}

/** Ended sessions: expired, or idle longer than `idleSeconds`. Run at each sign-in. */
export async function deleteEndedConsoleSessions(sql: Db, idleSeconds: number): Promise<number> {
  const r = await sql`delete from console_sessions
    where expires < now() or last_seen < now() - make_interval(secs => ${idleSeconds})`;
  return r.count;
}
