/**
 * `deno task bench --short [--check]`: the CI size of issue 18's ratios, a few seconds of each
 * load. Intake (bench_intake.ts: accepted/s against pgbench and a bare Hono + zod + postgres.js
 * handler) and delivery (bench_delivery_instant.ts into an instant DHIS2 against graphile-worker's
 * default and batched presets, 500 submissions: CPU per job, see shortDelivery), each ratio
 * taken between figures of this same run.
 *
 * Without `--check` the ratios are recorded (`intake_short`, `delivery_instant_short` in
 * bench/results/ratios.json). With it nothing is recorded, and the run fails only when a ratio
 * falls below half of its recorded short value, never on an absolute time (a loaded machine
 * slows every side of a ratio alike), or when a delivery outcome was wrong (a correctness check,
 * not a timing one). Short is compared with short: a smaller load moves the ratios.
 */
import { instantBench } from "./bench_delivery_instant.ts";
import type { IntakeOptions } from "./bench_intake.ts";
import { ratio, RATIOS_FILE, recordSection } from "./perf_lib.ts";
import { benchDatabase } from "./pg_cluster.ts";

/** The ratios each short section is checked on. */
export const CHECKED = {
  intake_short: ["accepted_vs_bare_hono", "accepted_vs_pgbench"],
  delivery_instant_short: ["cpu_vs_graphile_default", "cpu_vs_graphile_batched"],
} as const;

/** The delivery size of the short run: enough for both queues to reach their pace. */
export const SHORT_DELIVERY = { submissions: 500, concurrency: 8, rounds: 1 };

/** The checked ratios (`keys`) that fell below half of the recorded ones. */
export function regressions(
  now: Record<string, unknown>,
  recorded: Record<string, unknown>,
  keys: readonly string[] = CHECKED.intake_short,
): string[] {
  return keys.filter((k) =>
    typeof recorded[k] === "number" && typeof now[k] === "number" &&
    (now[k] as number) < (recorded[k] as number) / 2
  ).map((k) => `${k}: ${now[k]} < half of recorded ${recorded[k]}`);
}

/**
 * The instant-delivery bench at the short size, with its CPU ratios: graphile-worker's CPU per
 * job over ours (higher is better), each process's own CPU from its first job on. Those are
 * what the check compares. The rate ratios (`delivered_vs_graphile_*`) are recorded too but not
 * checked: one round of 500 jobs moved them 3× between two runs on a loaded machine (0.46 and
 * 1.31 against the batched preset), while the CPU ratios moved 15 % (1.79 and 2.14).
 */
async function shortDelivery(): Promise<Record<string, unknown>> {
  const db = await benchDatabase("bench_instant_short");
  try {
    const r = await instantBench({
      serverUrl: db.url,
      ...SHORT_DELIVERY,
      graphile: true,
      profile: false,
      log: console.log,
    });
    const ours = r.cpu_ms_per_delivery as number;
    return {
      ...r,
      cpu_vs_graphile_default: ratio(r.graphile_default_cpu_ms_per_job as number, ours),
      cpu_vs_graphile_batched: ratio(r.graphile_batched_cpu_ms_per_job as number, ours),
    };
  } finally {
    await db.stop();
  }
}

/**
 * Runs the short bench; records it, or (`check`) compares it. False when the check fails.
 * bench_intake.ts passes its `benchIntake` in (importing it here would be a cycle that never
 * finishes evaluating when bench_intake.ts is the main module).
 */
export async function shortMain(
  check: boolean,
  benchIntake: (o: IntakeOptions) => Promise<Record<string, unknown>>,
): Promise<boolean> {
  const now = {
    intake_short: await benchIntake({
      seconds: 2,
      connections: 8,
      embedded: false,
      latency: false,
    }),
    delivery_instant_short: await shortDelivery(),
  };
  if (!check) {
    for (const [section, r] of Object.entries(now)) await recordSection(section, r);
    console.log(`recorded intake_short and delivery_instant_short in ${RATIOS_FILE}`);
    return now.delivery_instant_short.outcomes_exact === true;
  }
  const recorded = JSON.parse(await Deno.readTextFile(RATIOS_FILE));
  const bad: string[] = [];
  for (const section of Object.keys(CHECKED) as Array<keyof typeof CHECKED>) {
    const rec = recorded[section] ?? {};
    for (const k of CHECKED[section]) {
      console.log(`${k}: ${now[section][k]} (recorded ${rec[k]})`);
    }
    if (section === "delivery_instant_short") {
      for (const k of ["delivered_vs_graphile_default", "delivered_vs_graphile_batched"]) {
        console.log(`${k}: ${now[section][k]} (recorded ${rec[k]}; not checked)`);
      }
    }
    bad.push(...regressions(now[section], rec, CHECKED[section]));
  }
  if (now.delivery_instant_short.outcomes_exact !== true) {
    bad.push(
      `delivery outcomes not exact: ${JSON.stringify(now.delivery_instant_short.problems)}`,
    );
  }
  if (bad.length) console.error(`ratio regression:\n${bad.join("\n")}`);
  return bad.length === 0;
}
