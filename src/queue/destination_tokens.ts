/**
 * Rate-limit tokens for the requests a claim did not pay for. A batch claim spends one token of
 * its destination's bucket (destination_claim.ts), but a batch can make more requests than one:
 * the halves of a split reply and the completion registrations sent after the import. Each of
 * those takes a token here first, waiting while the bucket (shared by every replica, migration
 * 0013's `destinations` row) is empty.
 */
import type { Db } from "../db/db.ts";
import type { DestinationLimits } from "./destination_claim.ts";

/**
 * Takes one token, refilling the bucket for the time passed; without one, says how long until
 * the next (ms). The row is locked first, so two replicas never spend the same token.
 */
export async function tryTakeToken(
  sql: Db,
  limits: DestinationLimits,
): Promise<{ taken: true } | { taken: false; waitMs: number }> {
  const rate = limits.ratePerSecond;
  if (!(rate > 0)) return { taken: true };
  const burst = Math.max(1, rate);
  const [row] = await sql<{ tokens: number | null; taken: boolean }[]>`
    with cur as (
      select least(${burst}::float8, tokens + ${rate}::float8 *
                   extract(epoch from clock_timestamp() - refilled_at))::float8 as t
      from destinations where name = ${limits.name}
      for update
    ), spent as (
      update destinations
      set tokens = (select t from cur) - 1, refilled_at = clock_timestamp()
      where name = ${limits.name} and (select t from cur) >= 1
      returning 1
    )
    select (select t from cur) as tokens, exists (select from spent) as taken`;
  // No row: no claim made one, so nothing was ever spent from it.
  if (row.taken || row.tokens === null) return { taken: true };
  return { taken: false, waitMs: Math.max(1, Math.ceil(((1 - row.tokens) / rate) * 1000)) };
}

/** Waits until a token is taken. */
export async function takeToken(sql: Db, limits: DestinationLimits): Promise<void> {
  for (;;) {
    const r = await tryTakeToken(sql, limits);
    if (r.taken) return;
    await new Promise((resolve) => setTimeout(resolve, r.waitMs));
  }
}
