/**
 * The bench's reference HTTP front of PostgreSQL: a bare Hono + zod + postgres.js handler that
 * inserts one row per POST. `bench_intake.ts` loads it in-process for the accepted/s ratio;
 * the latency bench runs it as its own process (`deno run -A scripts/bare_handler.ts <db url>`,
 * which prints `{"port":N}`) so that the gateway's tail can be read against what any HTTP front
 * gets on the same machine, cluster and load at the same moment.
 */
import { Hono } from "hono";
import postgres from "postgres";
import { z } from "zod";

export function bareApp(sql: postgres.Sql): Hono {
  const schema = z.object({
    orgUnit: z.string(),
    period: z.string(),
    dataValues: z.record(z.string(), z.unknown()),
  });
  return new Hono().post("/", async (c) => {
    const b = schema.parse(await c.req.json());
    const [r] = await sql`insert into t (body) values (${JSON.stringify(b)}::text::jsonb)
      returning id`;
    return c.json({ id: r.id });
  });
}

export async function createBareTable(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql`create table if not exists t (id bigint generated always as identity primary key,
    body jsonb not null, created_at timestamptz not null default now())`;
  await sql.end();
}

if (import.meta.main) {
  const [url, max = "32"] = Deno.args;
  await createBareTable(url);
  const sql = postgres(url, { max: Number(max), onnotice: () => {} });
  const srv = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    bareApp(sql).fetch,
  );
  console.log(JSON.stringify({ port: srv.addr.port }));
}
