/**
 * pipelined(): one transaction's BEGIN, statements and COMMIT sent together on one connection
 * (the claims and the batch record use it). Real PostgreSQL, one pool.
 */
import assert from "node:assert/strict";
import { connect, pipelined } from "../src/db/db.ts";
import { createTestDb, dbTest } from "./support/pg.ts";

dbTest(
  "pipelined: results in order, one transaction, a failure rolls back all and leaves the connection clean",
  async () => {
    const db = await createTestDb("db_pipelined");
    // One connection: a transaction left open would show in the next statement.
    const sql = connect({ url: db.url, max: 1 });
    try {
      await sql`create table pipelined_t (n int primary key)`;
      const [a, b] = await pipelined(sql, (tx) =>
        [
          tx`insert into pipelined_t values (1) returning n`,
          // Sees the statement before it: one transaction, run in order.
          tx<{ n: number }[]>`select count(*)::int as n from pipelined_t`,
        ] as const);
      assert.deepEqual([...a], [{ n: 1 }]);
      assert.equal(b[0].n, 1);

      await assert.rejects(
        pipelined(sql, (tx) => [
          tx`insert into pipelined_t values (2)`,
          tx`insert into pipelined_t values (1)`, // duplicate key: aborts the transaction
          tx`insert into pipelined_t values (3)`,
        ]),
        (err: Error & { code?: string }) => err.code === "23505",
      );
      const rows = await sql<{ n: number }[]>`select n from pipelined_t order by n`;
      assert.deepEqual(rows.map((r) => r.n), [1], "nothing of the failed transaction stays");
      // Outside a transaction, two statements get two transaction ids.
      const [{ x }] = await sql<{ x: string }[]>`select txid_current()::text as x`;
      const [{ y }] = await sql<{ y: string }[]>`select txid_current()::text as y`;
      assert.notEqual(x, y, "the connection went back outside any transaction");
    } finally {
      await sql.end();
      await db.close();
    }
  },
);
