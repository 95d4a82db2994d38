/**
 * `import-go-service`: the old service's users, API tokens, mappings and submission log into
 * dhis2gw, in one transaction. A dry run is the same run rolled back, so what it reports is
 * exactly what --apply would do. The ledger (go_service_imports, migration 0011) remembers which
 * old rows came over: a second --apply adds only what is new.
 */
import { verifyPassword } from "../auth/password.ts";
import { insertUser, userByUid, userByUsername } from "../auth/queries.ts";
import { hashToken } from "../auth/secrets.ts";
import { insertApiToken } from "../auth/token_queries.ts";
import type { PayloadSettings } from "../aggregate/payload.ts";
import { PG, pgCode, type Sql, type TransactionSql } from "../db/db.ts";
import { generateUid } from "../dhis2/uid.ts";
import { MappingCache } from "../mappings/cache.ts";
import { mappingKey } from "../mappings/model.ts";
import { insertMapping, lockForWrite, mappingByUid } from "../mappings/queries.ts";
import { type Prepared, prepareSubmission, type RequeueItem, storeSubmissions } from "./history.ts";
import { planMapping, planToken, planUser } from "./plan.ts";
import { readMappings, readSubmissions, readTokens, readUsers } from "./read.ts";

// Any fixed 64-bit key, distinct from the migration and bootstrap locks: one import at a time.
const IMPORT_LOCK = 7_216_020_555_012;

export interface ImportOptions {
  apply: boolean;
  /** auth.token_max_lifetime_days. */
  tokenMaxDays: number;
  /** server.max_retries + 1, fixed on each delivery as the intake path does. */
  maxAttempts: number;
  payload: PayloadSettings;
  now?: Date;
  /** Submission log rows read per fetch (500). */
  batch?: number;
}

interface Skipped {
  old: string;
  reason: string;
}

export interface ImportReport {
  applied: boolean;
  users: {
    imported: string[];
    already: number;
    /** Old users whose name dhis2gw already had: their tokens go to that account. */
    merged: string[];
    /** Imported, but their old hash is no bcrypt: they need a password reset. */
    noPassword: string[];
    /** Still on the password the old service seeded (`@dm1n`, in its public source). */
    seededPassword: string[];
    skipped: Skipped[];
  };
  tokens: { imported: number; already: number; notes: Skipped[]; skipped: Skipped[] };
  mappings: { imported: number; already: number; cleaned: Skipped[]; skipped: Skipped[] };
  submissions: {
    imported: number;
    already: number;
    byStatus: Record<string, number>;
    requeue: RequeueItem[];
  };
}

type Kind = "user" | "token" | "mapping" | "submission";

async function ledger(tx: TransactionSql, kind: Kind): Promise<Map<number, number>> {
  const rows = await tx<{ old_id: number; new_id: number }[]>`
    select old_id, new_id from go_service_imports where kind = ${kind}`;
  return new Map(rows.map((r) => [Number(r.old_id), Number(r.new_id)]));
}

async function remember(tx: TransactionSql, kind: Kind, oldId: number, newId: number) {
  await tx`insert into go_service_imports (kind, old_id, new_id)
    values (${kind}, ${oldId}, ${newId})`;
}

class DryRun extends Error {}

/** The old service's migration 1 seeded `admin` with this password (§6.1, §10.2-33). */
const SEEDED_PASSWORD = "@dm1n";

/** Runs the import from `old` (the old service's database) into `sql` (dhis2gw's). */
export async function importGoService(
  sql: Sql,
  old: Sql,
  opts: ImportOptions,
): Promise<ImportReport> {
  const now = opts.now ?? new Date();
  const report: ImportReport = {
    applied: opts.apply,
    users: {
      imported: [],
      already: 0,
      merged: [],
      noPassword: [],
      seededPassword: [],
      skipped: [],
    },
    tokens: { imported: 0, already: 0, notes: [], skipped: [] },
    mappings: { imported: 0, already: 0, cleaned: [], skipped: [] },
    submissions: { imported: 0, already: 0, byStatus: {}, requeue: [] },
  };
  try {
    await old.begin("isolation level repeatable read read only", async (otx) => {
      // The submission log is read through one cursor for the whole import: a statement that
      // outlives database.statement_timeout (30 s) by design.
      await otx`set local statement_timeout = 0`;
      await sql.begin(async (tx) => {
        await tx`set local statement_timeout = 0`;
        await tx`select pg_advisory_xact_lock(${IMPORT_LOCK})`;
        const users = await importUsers(tx, otx, report);
        await importTokens(tx, otx, users, opts.tokenMaxDays, now, report);
        await importMappings(tx, otx, report);
        await importHistory(tx, otx, opts, now, report);
        if (!opts.apply) throw new DryRun();
      });
    });
  } catch (err) {
    if (!(err instanceof DryRun)) throw err;
  }
  return report;
}

/** Old user id → dhis2gw user id, for the tokens. */
async function importUsers(
  tx: TransactionSql,
  otx: TransactionSql,
  report: ImportReport,
): Promise<Map<number, number>> {
  const r = report.users;
  const done = await ledger(tx, "user");
  const ids = new Map(done);
  const createdNow = new Set<string>();
  for (const u of await readUsers(otx)) {
    if (done.has(u.id)) {
      r.already++;
      continue;
    }
    const p = planUser(u);
    const label = `${u.username} (old id ${u.id})`;
    if (!p.ok) {
      r.skipped.push({ old: label, reason: p.reason });
      continue;
    }
    const existing = await userByUsername(tx, p.username);
    if (existing && createdNow.has(existing.username.toLowerCase())) {
      // Old names are unique by case, dhis2gw's are not: "Admin" and "admin" cannot both be.
      r.skipped.push({ old: label, reason: `differs only in case from ${existing.username}` });
      continue;
    }
    if (existing) {
      r.merged.push(`${p.username} (kept dhis2gw's password and role; old tokens go to it)`);
      ids.set(u.id, existing.id);
      await remember(tx, "user", u.id, existing.id);
      continue;
    }
    const uid = p.uid && !await userByUid(tx, p.uid) ? p.uid : generateUid();
    const row = await insertUser(tx, {
      uid,
      username: p.username,
      password_hash: p.passwordHash,
      first_name: p.firstName,
      last_name: p.lastName,
      email: p.email,
      telephone: p.telephone,
      role: p.role,
      is_active: p.isActive,
    });
    createdNow.add(row.username.toLowerCase());
    ids.set(u.id, row.id);
    await remember(tx, "user", u.id, row.id);
    r.imported.push(`${row.username} (${row.role}${row.is_active ? "" : ", inactive"})`);
    if (p.unusablePassword) r.noPassword.push(row.username);
    // Only the seeded account is checked: one bcrypt run, not one per user.
    if (u.username === "admin" && await verifyPassword(SEEDED_PASSWORD, p.passwordHash)) {
      r.seededPassword.push(row.username);
    }
  }
  return ids;
}

async function importTokens(
  tx: TransactionSql,
  otx: TransactionSql,
  users: Map<number, number>,
  maxDays: number,
  now: Date,
  report: ImportReport,
): Promise<void> {
  const r = report.tokens;
  const done = await ledger(tx, "token");
  for (const t of await readTokens(otx)) {
    if (done.has(t.id)) {
      r.already++;
      continue;
    }
    const label = `token ${t.id} of old user ${t.user_id}`;
    const userId = users.get(t.user_id);
    if (userId === undefined) {
      r.skipped.push({ old: label, reason: "its user was not imported" });
      continue;
    }
    const p = planToken(t, maxDays, now);
    if (!p.ok) {
      r.skipped.push({ old: label, reason: p.reason });
      continue;
    }
    const hash = hashToken(p.token);
    // Imported before by `user import-token`, or the old table held the same token twice.
    const [same] = await tx<{ id: number }[]>`select id from api_tokens where token_hash = ${hash}`;
    if (same) {
      await remember(tx, "token", t.id, same.id);
      r.already++;
      continue;
    }
    const row = await insertApiToken(tx, {
      user_id: userId,
      name: `Go service token ${t.id}`,
      prefix: p.token.slice(0, 8),
      token_hash: hash,
      source_name: null,
      expires: p.expires,
    });
    // Every old token came from the old getToken: the next /api/v2 getToken with Basic revokes
    // it as the old service did, and a Token header rotates it (src/auth/legacy_token.ts).
    await tx`update api_tokens set from_get_token = true where id = ${row.id}`;
    await remember(tx, "token", t.id, row.id);
    r.imported++;
    if (p.note) r.notes.push({ old: label, reason: p.note });
  }
}

async function importMappings(
  tx: TransactionSql,
  otx: TransactionSql,
  report: ImportReport,
): Promise<void> {
  const r = report.mappings;
  await lockForWrite(tx);
  const done = await ledger(tx, "mapping");
  const planned = (await readMappings(otx)).map((m) => ({ m, p: planMapping(m) }));
  // When cleaning makes two rows one, the row the old submission path used (already
  // source/instance "default") wins over the one that was invisible to it.
  const invisible = (x: (typeof planned)[number]) =>
    x.p.cleaned.some((c) => c.includes("→ default")) ? 1 : 0;
  planned.sort((a, b) => invisible(a) - invisible(b) || a.m.id - b.m.id);
  const keys = new Map<string, number>();
  for (const { m, p } of planned) {
    if (done.has(m.id)) {
      r.already++;
      continue;
    }
    const label = `mapping ${m.id} (code "${m.code ?? ""}")`;
    if (p.cleaned.length) r.cleaned.push({ old: label, reason: p.cleaned.join(", ") });
    if (!p.ok) {
      r.skipped.push({ old: label, reason: p.reason });
      continue;
    }
    const key = mappingKey(p.input);
    if (keys.has(key)) {
      r.skipped.push({
        old: label,
        reason: `once cleaned, the same code/source/instance/what as mapping ${keys.get(key)}`,
      });
      continue;
    }
    keys.set(key, m.id);
    const uid = p.uid && !await mappingByUid(tx, p.uid) ? p.uid : generateUid();
    try {
      const row = await tx.savepoint((sp) => insertMapping(sp, uid, p.input));
      await remember(tx, "mapping", m.id, (row as unknown as { id: number }).id);
      r.imported++;
    } catch (err) {
      if (pgCode(err) !== PG.uniqueViolation) throw err;
      r.skipped.push({ old: label, reason: "dhis2gw already has a mapping for it (kept)" });
    }
  }
}

async function importHistory(
  tx: TransactionSql,
  otx: TransactionSql,
  opts: ImportOptions,
  now: Date,
  report: ImportReport,
): Promise<void> {
  const r = report.submissions;
  const done = await ledger(tx, "submission");
  // Loaded on first use, after the mappings above: it sees them inside this transaction.
  const lookup = new MappingCache(tx);
  const o = { payload: opts.payload, maxAttempts: opts.maxAttempts, now };
  for await (const batch of readSubmissions(otx, opts.batch)) {
    const prepared: Prepared[] = [];
    for (const row of batch) {
      if (done.has(row.id)) {
        r.already++;
        continue;
      }
      prepared.push(await prepareSubmission(row, lookup, o));
    }
    for (const stored of await storeSubmissions(tx, prepared, o)) {
      r.imported++;
      r.byStatus[stored.status] = (r.byStatus[stored.status] ?? 0) + 1;
      if (stored.requeue) r.requeue.push(stored.requeue);
    }
  }
}
