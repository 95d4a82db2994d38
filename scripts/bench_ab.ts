/**
 * `deno task bench --ab <dir>`: accepted/s of this checkout against another one (say
 * `git archive main | tar -x -C /tmp/base`) in the same run, both gateways up at once on one
 * PostgreSQL (a database each) and loaded in turn, A B B A A B..., so a machine whose load
 * drifts (2 cores shared with other work) biases neither. The answer is the median of each
 * round's ratio: a change ships only if that ratio says it helps.
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { MAIN, portFrom, RUN_FLAGS } from "../tests/support/cli.ts";
import { findPgBin, startCluster } from "./pg_cluster.ts";
import { recordSection, wrapChild, wrkPost } from "./perf_lib.ts";
import { ADMIN, SAMPLE_SUBMISSION, setUpSample } from "./sample.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function gateway(checkout: string, dbUrl: string, connections: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, `${checkout}/main.ts`, "serve", "--no-worker"],
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      DHIS2GW_DB: dbUrl,
      DHIS2GW_SERVER_PORT: "0",
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
      DHIS2GW_DB_POOL_MAX: String(connections),
    },
    clearEnv: true,
    cwd: checkout,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const proc = wrapChild(child);
  const api = `http://127.0.0.1:${portFrom(await proc.waitFor(/"msg":"listening"/))}/api/v3`;
  const sample = await setUpSample(api);
  return { proc, url: `${api}/aggregate`, auth: `Token ${sample.apiToken}` };
}

export async function abMain(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: false,
    options: {
      ab: { type: "string" },
      rounds: { type: "string", default: "4" },
      seconds: { type: "string", default: "5" },
      connections: { type: "string", default: "32" },
    },
  });
  const base = String(values.ab);
  const here = MAIN.replace(/\/main\.ts$/, "");
  const rounds = Number(values.rounds);
  const o = { seconds: Number(values.seconds), connections: Number(values.connections) };
  const bin = await findPgBin(["initdb", "pg_ctl"]);
  if (!bin) throw new Error("the A/B bench needs PostgreSQL's initdb and pg_ctl");
  const cluster = await startCluster(bin);
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  const body = JSON.stringify(SAMPLE_SUBMISSION);
  try {
    await admin.unsafe("create database ab_this");
    await admin.unsafe("create database ab_base");
    const url = (db: string) => cluster.url.replace(/\/postgres$/, `/${db}`);
    const a = await gateway(here, url("ab_this"), o.connections);
    const b = await gateway(base, url("ab_base"), o.connections);
    try {
      const load = (g: typeof a) => wrkPost(g.url, body, { ...o, auth: g.auth });
      await load(a); // warm-up of both
      await load(b);
      const ratios: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const [first, second] = r % 2 ? [b, a] : [a, b];
        const x = await load(first);
        const y = await load(second);
        const [mine, theirs] = first === a ? [x, y] : [y, x];
        ratios.push(Number((mine.perSecond / theirs.perSecond).toFixed(3)));
        console.log(
          `round ${r + 1}: this ${mine.perSecond}/s (p99 ${mine.p99} ms), base ` +
            `${theirs.perSecond}/s (p99 ${theirs.p99} ms): ${ratios.at(-1)}×`,
        );
      }
      const m = Number(median(ratios).toFixed(3));
      console.log(`median ratio this/base over ${rounds} rounds: ${m}×`);
      await recordSection("ab", {
        date: new Date().toISOString(),
        base,
        rounds: ratios,
        median_this_vs_base: m,
      });
    } finally {
      await a.proc.stop();
      await b.proc.stop();
    }
  } finally {
    await admin.end();
    await cluster.stop();
  }
}

if (import.meta.main) await abMain(Deno.args);
