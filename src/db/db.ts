import postgres from "postgres";
import type { Config } from "../config/config.ts";
import type { Logger } from "../logs/logger.ts";

export type Sql = postgres.Sql;

/** The schema dhis2gw's tables live in, every pool's search_path (schema.ts says why). */
export const DB_SCHEMA = "dhis2gw";
export type TransactionSql = postgres.TransactionSql;
/** What every query function takes first, so a caller can run it inside its own transaction. */
export type Db = Sql | TransactionSql | postgres.ReservedSql;

/** A statement not yet sent (postgres.js sends one when it is first awaited or executed). */
export type PendingStatement = PromiseLike<unknown> & { execute(): unknown };

/**
 * One short transaction in one round trip: BEGIN, `statements` and COMMIT go out together on one
 * reserved connection, each executed here in order, where sql.begin waits for BEGIN's answer,
 * then for each statement's, then for COMMIT's (4 round trips for a lock and a claim; at idle
 * that was 4 ms of a 10 ms delivery, under load each waited its turn on a busy event loop). The
 * server still runs each after the one before, so a statement's snapshot is taken after the
 * locks of those before it are held. `statements` must return statements not yet awaited or
 * executed (an async helper that awaits its own would send it after COMMIT). A failed statement
 * aborts the transaction; COMMIT then answers ROLLBACK and this throws the first error: the
 * connection goes back clean. Resolves to each statement's result, in order.
 */
export async function pipelined<const Q extends readonly PendingStatement[]>(
  sql: Sql,
  statements: (tx: postgres.ReservedSql) => Q,
): Promise<{ -readonly [K in keyof Q]: Awaited<Q[K]> }> {
  const tx = await sql.reserve();
  let settled: PromiseSettledResult<unknown>[];
  try {
    // Built before anything is sent: a throw here leaves nothing queued on the connection.
    const body = statements(tx);
    const begin = tx`begin`.execute();
    for (const q of body) q.execute();
    const commit = tx`commit`.execute();
    settled = await Promise.allSettled([begin, ...body, commit]);
  } finally {
    tx.release();
  }
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  const values = (settled as PromiseFulfilledResult<unknown>[]).map((r) => r.value);
  // COMMIT of a transaction a statement aborted answers ROLLBACK, not an error.
  if ((values[values.length - 1] as { command?: string }).command !== "COMMIT") {
    throw new Error("a pipelined transaction did not commit");
  }
  return values.slice(1, -1) as { -readonly [K in keyof Q]: Awaited<Q[K]> };
}

export interface ConnectOptions {
  url: string;
  /** A Unix socket to connect through instead of the URL's host and port. */
  path?: string;
  max?: number;
  log?: Logger;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
  /** `database.connect_timeout` and `database.statement_timeout`, in seconds (0: no limit). */
  timeouts?: Pick<Config["database"], "connect_timeout" | "statement_timeout">;
  /**
   * The schema unqualified names resolve to: dhis2gw's own (schema.ts) unless given, e.g.
   * `public` to read the old Go service's tables.
   */
  searchPath?: string;
  /** Called with each statement sent (tests count the queries a request costs). */
  onQuery?: (statement: string) => void;
}

/** The defaults of `database.connect_timeout` and `database.statement_timeout` (fields.ts). */
export const DEFAULT_TIMEOUTS = { connect_timeout: 5, statement_timeout: 30 } as const;

/**
 * Seconds before postgres.js opens a connection again after one failed, by the number of
 * failures in a row. Its default grows to 20 s, and while a connection waits out that delay
 * the queries handed to it wait too: with PostgreSQL stopped for 10 s under 40 submissions/s,
 * requests hung until the client gave up (15 s) and the first 200 after the restart came 4.4 s
 * late. A reconnect is only tried for a waiting query, so a short delay costs a refused connect
 * per query during an outage, and lets an outage surface as a fast 503.
 */
export function reconnectDelay(failures: number): number {
  return Math.min(0.005 * 2 ** failures, 0.05);
}

let orphanLog: Logger | undefined;
let orphanGuard = false;

/**
 * postgres.js runs a query of its own on every new connection (the array types, connection.js
 * `fetchArrayTypes`) and leaves its rejection unhandled: a connection lost during it, as when
 * PostgreSQL stops while the pool reconnects, ended the whole process ("Uncaught (in promise)
 * Error: read ECONNRESET", seen with PostgreSQL stopped under 60 submissions/s). A lost
 * connection is the database's outage, not a reason to stop serving: such rejections are
 * logged and the process lives on. Every other unhandled rejection still ends it.
 */
function guardOrphanRejections(log: Logger | undefined): void {
  orphanLog ??= log;
  if (orphanGuard) return;
  orphanGuard = true;
  globalThis.addEventListener("unhandledrejection", (e) => {
    if (!isDatabaseUnavailable(e.reason)) return;
    e.preventDefault();
    const statement = (e.reason as { query?: unknown }).query;
    orphanLog?.warn("database connection lost during a query nobody awaited", {
      error: e.reason as Error,
      statement: typeof statement === "string" ? statement.trim().slice(0, 60) : undefined,
    });
  });
}

/** A postgres.js pool with the type parsing dhis2gw expects (int8 and numeric as JS numbers). */
export function connect(opts: ConnectOptions): Sql {
  guardOrphanRejections(opts.log);
  const t = opts.timeouts ?? DEFAULT_TIMEOUTS;
  return postgres(opts.url, {
    path: opts.path,
    max: opts.max ?? 10,
    // Parameters typed from their JavaScript values (a Date as timestamptz, an array by its
    // first element), as postgres.js 3 did and the queries here were written for.
    infer: true,
    idle_timeout: 60,
    // Bounds how long a request waits for a server that does not answer a connect at all.
    connect_timeout: t.connect_timeout,
    backoff: reconnectDelay,
    connection: {
      application_name: opts.applicationName ?? "dhis2gw",
      // Only dhis2gw's schema, not `public` after it: a table not created yet must be an error,
      // never the old service's table of the same name (schema.ts).
      search_path: opts.searchPath ?? DB_SCHEMA,
      // Server-side: a statement stuck on a lock or a stalled disk ends as 57014 (a 503).
      ...(t.statement_timeout > 0 ? { statement_timeout: t.statement_timeout * 1000 } : {}),
    },
    // Ids and counts fit well inside 2^53; strings here would leak into every JSON reply.
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (x: number | bigint) => x.toString(),
        parse: (x: string) => Number(x),
      },
    },
    onnotice: (notice) => opts.log?.debug("postgres notice", { message: notice.message }),
    ...(opts.onQuery ? { debug: (_c: number, statement: string) => opts.onQuery!(statement) } : {}),
  });
}

/** Postgres error codes the service reacts to; the one place that knows them. */
export const PG = {
  uniqueViolation: "23505",
  foreignKeyViolation: "23503",
  serializationFailure: "40001",
  deadlockDetected: "40P01",
  /** statement_timeout (or a cancel, which dhis2gw never sends). */
  queryCanceled: "57014",
  adminShutdown: "57P01",
  crashShutdown: "57P02",
  cannotConnectNow: "57P03",
  tooManyConnections: "53300",
} as const;

/**
 * The server is gone, going, not yet up, refusing more connections or too slow: nothing in
 * the request was wrong, and the same request may well succeed in a few seconds.
 */
const UNAVAILABLE_CODES = new Set<string>([
  PG.queryCanceled,
  PG.adminShutdown,
  PG.crashShutdown,
  PG.cannotConnectNow,
  PG.tooManyConnections,
  // postgres.js: the socket closed under a query, the pool was ended, no connect in time.
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  // The socket, from the runtime.
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/** True for errors that mean "the database is unavailable", not "this request is wrong". */
export function isDatabaseUnavailable(err: unknown): boolean {
  const code = pgCode(err);
  if (code === undefined) return false;
  // The embedded server's Unix socket is gone while its supervisor restarts it; any other
  // missing file is not about the database.
  if (code === "ENOENT") return /^connect ENOENT /.test(String((err as Error).message));
  // Class 08: connection exception (08000, 08003, 08006, 08001, 08004, ...).
  return UNAVAILABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code);
}

export function pgCode(err: unknown): string | undefined {
  if (err && typeof err === "object" && "code" in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

export function isRetryableTxError(err: unknown): boolean {
  const code = pgCode(err);
  return code === PG.serializationFailure || code === PG.deadlockDetected;
}
