/**
 * `deno task soak`: mixed load against one `serve` (API and worker, external PostgreSQL, the
 * DHIS2 simulator as destination) for --minutes (default 30), sampling the process's RSS,
 * plotting it to bench/results/soak.svg and failing if it grows after warm-up.
 *
 * The load: accepted submissions (most), submission listings, bodies that fail validation and
 * unknown tokens (each with its own request-log row and log line), at --rate requests/s.
 * Growth (growth() below): the median RSS of the last third of the post-warm-up samples against
 * the first third's, more than --max-growth-mb and 15% over it, fails; so does a least-squares
 * slope over the post-warm-up samples above --max-slope-mb-h (MB per hour; judged only when
 * the post-warm-up window is 5 minutes or more).
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { startSimulator } from "../src/simulator/simulator.ts";
import { portFrom, startServe } from "../tests/support/cli.ts";
import { findPgBin, startCluster } from "./pg_cluster.ts";
import { RESULTS_DIR, rssKb } from "./perf_lib.ts";
import { ADMIN, setUpSample } from "./sample.ts";
import { mixedLoad } from "./soak_load.ts";

export interface Sample {
  t: number;
  mb: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
}

/** Least-squares slope of MB over time, in MB per hour (0 for fewer than two samples). */
export function slopeMbPerHour(samples: Sample[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  const mt = samples.reduce((a, s) => a + s.t, 0) / n;
  const mm = samples.reduce((a, s) => a + s.mb, 0) / n;
  let num = 0, den = 0;
  for (const s of samples) {
    num += (s.t - mt) * (s.mb - mm);
    den += (s.t - mt) ** 2;
  }
  return den ? (num / den) * 3600 : 0;
}

/** Post-warm-up windows shorter than this have no trend to tell from GC cycles and JIT. */
export const MIN_TREND_WINDOW_S = 300;

/**
 * MB per hour: 0.25 MB a minute, 6 MB over a 30-minute soak's post-warm-up window. The leak
 * this rule was made for climbed 0.6 MB a minute (36); the first flat 30-minute run after its
 * fix fitted 9.6 (two steps of about 3 MB as glibc's arenas grew, then level).
 */
export const DEFAULT_MAX_SLOPE = 15;

export interface GrowthLimits {
  /** The thirds' medians may differ by this much (and 15%) at most. */
  maxGrowthMb: number;
  /** The fitted slope after warm-up, in MB per hour, at most (windows >= MIN_TREND_WINDOW_S). */
  maxSlopeMbPerHour: number;
}

/**
 * Growth after warm-up, two ways: the first and last thirds' medians (a step up that stays),
 * and a least-squares slope over every post-warm-up sample (a steady climb: +0.6 MB a minute
 * over 24 minutes moved the medians by 10 MB, under the step limit, and is 36 MB an hour).
 * Medians and a fit over hundreds of samples, so a GC cycle is neither a step nor a trend.
 */
export function growth(samples: Sample[], warmupS: number, limits: GrowthLimits | number) {
  const l = typeof limits === "number"
    ? { maxGrowthMb: limits, maxSlopeMbPerHour: DEFAULT_MAX_SLOPE }
    : limits;
  const after = samples.filter((s) => s.t >= warmupS);
  const third = Math.max(1, Math.floor(after.length / 3));
  const early = median(after.slice(0, third).map((s) => s.mb));
  const late = median(after.slice(-third).map((s) => s.mb));
  const stepped = late - early > l.maxGrowthMb && late > early * 1.15;
  const slope = slopeMbPerHour(after);
  const window = after.length ? after[after.length - 1].t - after[0].t : 0;
  const climbing = window >= MIN_TREND_WINDOW_S && slope > l.maxSlopeMbPerHour;
  return {
    early_mb: Math.round(early),
    late_mb: Math.round(late),
    slope_mb_per_h: Math.round(slope * 10) / 10,
    grown: stepped || climbing,
  };
}

export function svg(samples: Sample[], warmupS: number, title: string): string {
  const W = 720, H = 320, L = 56, R = 16, T = 32, B = 40;
  const maxT = Math.max(1, ...samples.map((s) => s.t));
  const maxMb = Math.max(10, ...samples.map((s) => s.mb)) * 1.1;
  const x = (t: number) => L + (t / maxT) * (W - L - R);
  const y = (mb: number) => H - B - (mb / maxMb) * (H - T - B);
  const pts = samples.map((s) => `${x(s.t).toFixed(1)},${y(s.mb).toFixed(1)}`).join(" ");
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const mb = Math.round(maxMb * f);
    const min = ((maxT * f) / 60).toFixed(1);
    return `<line x1="${L}" x2="${W - R}" y1="${y(mb)}" y2="${y(mb)}" stroke="#eee"/>` +
      `<text x="${L - 6}" y="${y(mb) + 4}" text-anchor="end">${mb}</text>` +
      `<text x="${x(maxT * f)}" y="${H - B + 16}" text-anchor="middle">${min}</text>`;
  }).join("");
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
    `font-family="sans-serif" font-size="11">` +
    `<rect x="${L}" y="${T}" width="${x(warmupS) - L}" height="${H - T - B}" fill="#f3f3f3"/>` +
    `<text x="${L + 4}" y="${T + 12}" fill="#888">warm-up</text>${ticks}` +
    `<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="${pts}"/>` +
    `<text x="${L}" y="18" font-size="13">${esc(title)}</text>` +
    `<text x="${W / 2}" y="${H - 6}" text-anchor="middle">minutes</text>` +
    `<text x="12" y="${H / 2}" transform="rotate(-90 12 ${H / 2})" text-anchor="middle">` +
    `RSS (MB)</text></svg>\n`;
}

export async function soak(
  o: { seconds: number; rate: number; maxGrowthMb: number; maxSlopeMbPerHour?: number },
) {
  const bin = await findPgBin(["initdb", "pg_ctl"]);
  if (!bin) throw new Error("the soak needs PostgreSQL's initdb and pg_ctl");
  const cluster = await startCluster(bin);
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  const sim = await startSimulator({ port: 0 });
  await admin.unsafe("create database gateway");
  const gw = startServe(["serve"], {
    cwd: new URL("../", import.meta.url).pathname,
    env: {
      DHIS2GW_DB: cluster.url.replace(/\/postgres$/, "/gateway"),
      DHIS2GW_SERVER_PORT: "0",
      DHIS2GW_HOST: "127.0.0.1",
      DHIS2GW_ADMIN_PASSWORD: ADMIN.password,
      DHIS2GW_DHIS2_BASE_URL: sim.url,
      DHIS2GW_DHIS2_USER: "admin",
      DHIS2GW_DHIS2_PASSWORD: "district",
      // The listings' admin token must outlive the run (default 15 minutes, then 401s).
      DHIS2GW_ACCESS_TOKEN_TTL: "86400",
    },
  });
  const samples: Sample[] = [];
  const counts: Record<string, number> = {};
  const kinds: Record<string, Record<string, number>> = {};
  try {
    const api = `http://127.0.0.1:${portFrom(await gw.waitFor(/"msg":"listening"/))}/api/v3`;
    const sample = await setUpSample(api);
    const t0 = performance.now();
    const end = t0 + o.seconds * 1000;
    const every = Math.max(250, Math.round(o.seconds * 1000 / 600));
    const sampler = (async () => {
      while (performance.now() < end) {
        const kb = await rssKb(gw.child.pid);
        if (kb) samples.push({ t: (performance.now() - t0) / 1000, mb: kb / 1024 });
        await new Promise((r) => setTimeout(r, every));
      }
    })();
    await mixedLoad({ api, ...sample }, { until: end, rate: o.rate }, counts, kinds);
    await sampler;
  } finally {
    await gw.stop();
    await sim.stop();
    await admin.end();
    await cluster.stop();
  }
  const warmupS = Math.max(5, o.seconds / 5);
  const g = growth(samples, warmupS, {
    maxGrowthMb: o.maxGrowthMb,
    maxSlopeMbPerHour: o.maxSlopeMbPerHour ?? DEFAULT_MAX_SLOPE,
  });
  const title = `dhis2gw serve RSS under mixed load, ${o.rate} requests/s for ` +
    `${
      (o.seconds / 60).toFixed(1)
    } min: ${g.early_mb} MB after warm-up, ${g.late_mb} MB at the end, ` +
    `${g.slope_mb_per_h} MB/h`;
  await Deno.mkdir(RESULTS_DIR, { recursive: true });
  const name = o.seconds >= 600 ? "soak" : "soak-short";
  await Deno.writeTextFile(`${RESULTS_DIR}${name}.svg`, svg(samples, warmupS, title));
  return { ...g, counts, kinds, samples: samples.length, svg: `${RESULTS_DIR}${name}.svg` };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      minutes: { type: "string", default: "30" },
      seconds: { type: "string" },
      rate: { type: "string", default: "50" },
      "max-growth-mb": { type: "string", default: "16" },
      "max-slope-mb-h": { type: "string", default: String(DEFAULT_MAX_SLOPE) },
    },
  });
  const seconds = values.seconds ? Number(values.seconds) : Number(values.minutes) * 60;
  const r = await soak({
    seconds,
    rate: Number(values.rate),
    maxGrowthMb: Number(values["max-growth-mb"]),
    maxSlopeMbPerHour: Number(values["max-slope-mb-h"]),
  });
  console.log(JSON.stringify({ ...r, seconds, rate: Number(values.rate) }));
  if (r.grown) {
    console.error(
      `RSS grew after warm-up: ${r.early_mb} MB -> ${r.late_mb} MB, ${r.slope_mb_per_h} MB/h`,
    );
    Deno.exit(1);
  }
}
