/** Plans of the queue's statements as PostgreSQL ran them (EXPLAIN ANALYZE), for plan tests. */
import type postgres from "postgres";
import type { Db, Sql } from "../../src/db/db.ts";
import { insertGroup } from "../../src/queue/group_commit.ts";
import type { NewSubmission } from "../../src/queue/queries.ts";

export interface PlanNode {
  "Actual Loops"?: number;
  "Actual Rows"?: number;
  "Rows Removed by Filter"?: number;
  "Rows Removed by Join Filter"?: number;
  "Shared Hit Blocks"?: number;
  "Shared Read Blocks"?: number;
  Alias?: string;
  "Relation Name"?: string;
  "Node Type"?: string;
  "CTE Name"?: string;
  Plans?: PlanNode[];
}

const UNDO = new Error("undo");

/**
 * `statement`'s plan as EXPLAIN (ANALYZE, BUFFERS) ran it, in a transaction rolled back after:
 * ANALYZE executes the statement, and a claim would claim.
 */
export async function analyzedPlan<T extends readonly object[]>(
  sql: Sql,
  statement: (tx: Db) => postgres.PendingQuery<T>,
  opts: { generic?: boolean } = {},
): Promise<PlanNode> {
  let plan: PlanNode | undefined;
  await sql.begin(async (tx) => {
    // The plan a prepared statement settles on after its first executions (postgres.js
    // prepares each one): parameters are not looked at.
    if (opts.generic) await tx`set local plan_cache_mode = force_generic_plan`;
    const [row] = await tx`explain (analyze, buffers, format json) ${statement(tx)}`;
    plan = (row["QUERY PLAN"] as Array<{ Plan: PlanNode }>)[0].Plan;
    throw UNDO;
  }).catch((e) => {
    if (e !== UNDO) throw e;
  });
  return plan!;
}

/** A minimal submission of one delivery on `key` (`orgUnit|period`), for the plan tests. */
export function keyedSubmission(i: number, key: string): NewSubmission {
  return {
    userUid: "uIntake0001",
    username: "intake",
    sourceName: "default",
    idempotencyKey: null,
    requestHash: String(i),
    orgUnit: key.split("|")[0],
    orgUnitName: null,
    period: "202401",
    dataSet: "ds",
    kind: "aggregate",
    requestJson: "{}",
    payload: { dataValues: [{ dataElement: "de", value: String(i) }] },
    codes: ["c"],
    unmappedCodes: [],
    deliveries: [{ destination: "default", kind: "aggregate", orderingKey: key, maxAttempts: 3 }],
  };
}

/** Rows the plan's scans matching `scan` returned, over all their loops. */
export function rowsRead(plan: PlanNode, scan: (p: PlanNode) => boolean): number {
  let n = scan(plan) ? (plan["Actual Rows"] ?? 0) * (plan["Actual Loops"] ?? 1) : 0;
  for (const c of plan.Plans ?? []) n += rowsRead(c, scan);
  return n;
}

/** keyedSubmission on a key of its own (org unit `ou000000042` for 42). */
export const ownKeySubmission = (i: number) =>
  keyedSubmission(i, `ou${String(i).padStart(9, "0")}|202401`);

/** `subs` through intake's group statement, with fresh task ids. */
export const insertSubmissions = (sql: Db, subs: NewSubmission[]) =>
  insertGroup(sql, subs, subs.map(() => crypto.randomUUID()));

export interface ExplainedStatement {
  "Query Text": string;
  Plan: PlanNode;
}

/**
 * Turns auto_explain on for `sql`'s one session, nested statements (a trigger's) included, its
 * plans sent as notices to the logger whose `lines` are given; returns a reader of the plans
 * logged since. `analyze` adds actual rows and loops.
 */
export async function autoExplain(
  sql: Sql,
  lines: string[],
  opts: { analyze?: boolean } = {},
): Promise<() => ExplainedStatement[]> {
  await sql`load 'auto_explain'`;
  await sql`set auto_explain.log_level = notice`;
  await sql`set auto_explain.log_min_duration = 0`;
  await sql`set auto_explain.log_nested_statements = on`;
  if (opts.analyze) await sql`set auto_explain.log_analyze = on`;
  await sql`set auto_explain.log_format = json`;
  const from = lines.length;
  return () =>
    lines.slice(from)
      .map((l) => JSON.parse(l).message as string)
      .filter((m) => m?.includes('"Plan"'))
      .map((m) => JSON.parse(m.slice(m.indexOf("{"))) as ExplainedStatement);
}
