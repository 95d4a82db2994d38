/**
 * The long-lived credential the old API's `POST /api/v2/users/getToken` hands out (issue 12):
 * an ordinary API token (hashed, revocable, expiring after auth.token_max_lifetime_days), in
 * the old service's 40-hex form so a client that stores it in a 40-character column still can.
 *
 * - After a password check: a new token, and the user's earlier getToken tokens revoked (the
 *   old service deactivated all of a user's tokens; tokens made through /api/v3 are left
 *   alone), so a client calling getToken at every start holds one live token, not hundreds.
 * - With a `Token` header: that same token is rotated (revoked, and a successor with its name
 *   and source issued).
 */
import type { Sql } from "../db/db.ts";
import { hashToken, randomSecretBytes } from "./secrets.ts";
import { passwordChangedMeanwhile } from "./service.ts";

export const GET_TOKEN_NAME = "getToken (/api/v2)";

export interface IssuedToken {
  token: string;
  tokenId: number;
  expires: Date;
  /** Ids of the tokens revoked by this call (the caller drops them from its credential cache). */
  revoked: number[];
}

function newLegacySecret(): string {
  return Array.from(randomSecretBytes(20), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Issues a getToken token for `userId`. With `rotate`, the token with that id (the caller's
 * own) is revoked and its successor keeps its name, source and marker; otherwise every live
 * getToken token of the user is revoked. The user's row is locked, so two getToken calls at
 * once leave exactly one live getToken token, and a password reset that commits before this
 * lock moves `token_generation` past `generation` (the one the caller's password was checked
 * under; omitted when rotating, which only needs the token to be live): then it throws 401.
 * Null when the token to rotate is no longer live.
 */
export async function issueGetToken(
  sql: Sql,
  userId: number,
  maxDays: number,
  opts: { rotate?: number; generation?: number },
): Promise<IssuedToken | null> {
  const { rotate, generation } = opts;
  return await sql.begin(async (tx) => {
    const [user] = await tx<{ token_generation: number }[]>`
      select token_generation from users where id = ${userId} for update`;
    if (generation !== undefined && user?.token_generation !== generation) {
      throw passwordChangedMeanwhile();
    }
    let name = GET_TOKEN_NAME;
    let sourceName: string | null = null;
    let marked = true;
    let revoked: { id: number }[];
    if (rotate !== undefined) {
      const rows = await tx<{ id: number; name: string; source_name: string | null; g: boolean }[]>`
        update api_tokens set revoked_at = now()
        where id = ${rotate} and user_id = ${userId} and revoked_at is null
        returning id, name, source_name, from_get_token as g`;
      revoked = rows;
      const old = rows[0];
      // Revoked by someone else since the caller was authenticated: nothing to rotate.
      if (!old) return null;
      [name, sourceName, marked] = [old.name, old.source_name, old.g];
    } else {
      revoked = await tx<{ id: number }[]>`
        update api_tokens set revoked_at = now()
        where user_id = ${userId} and from_get_token and revoked_at is null
        returning id`;
    }
    const token = newLegacySecret();
    const expires = new Date(Date.now() + maxDays * 86_400_000);
    const [row] = await tx<{ id: number }[]>`
      insert into api_tokens (user_id, name, prefix, token_hash, source_name, expires,
                              from_get_token)
      values (${userId}, ${name}, ${token.slice(0, 8)}, ${hashToken(token)}, ${sourceName},
              ${expires}, ${marked})
      returning id`;
    return { token, tokenId: row.id, expires, revoked: revoked.map((r) => r.id) };
  });
}
