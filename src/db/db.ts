import postgres from "postgres";
import type { Logger } from "../logs/logger.ts";

export type Sql = postgres.Sql;
export type TransactionSql = postgres.TransactionSql;
/** What every query function takes first, so a caller can run it inside its own transaction. */
export type Db = Sql | TransactionSql;

export interface ConnectOptions {
  url: string;
  /** A Unix socket to connect through instead of the URL's host and port. */
  path?: string;
  max?: number;
  log?: Logger;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
}

/** A postgres.js pool with the type parsing dhis2gw expects (int8 and numeric as JS numbers). */
export function connect(opts: ConnectOptions): Sql {
  return postgres(opts.url, {
    path: opts.path,
    max: opts.max ?? 10,
    idle_timeout: 60,
    connect_timeout: 10,
    connection: { application_name: opts.applicationName ?? "dhis2gw" },
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
  });
}

/** Postgres error codes the service reacts to; the one place that knows them. */
export const PG = {
  uniqueViolation: "23505",
  foreignKeyViolation: "23503",
  serializationFailure: "40001",
  deadlockDetected: "40P01",
} as const;

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
