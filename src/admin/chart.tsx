/**
 * Submissions per hour by outcome, as a stacked bar chart in plain SVG rendered on the server:
 * no chart library and no script, so it works offline and in the compiled binary.
 */

import { FINISHED_STATUSES } from "../queue/queries.ts";

/** What became of the submissions of an hour: how each finished, or still waiting. */
export const OUTCOMES = [...FINISHED_STATUSES, "waiting"] as const;
export type Outcome = typeof OUTCOMES[number];

export const OUTCOME_COLORS: Record<Outcome, string> = {
  delivered: "#2e8540",
  partial: "#d4a017",
  rejected: "#c0392b",
  dead: "#6d1a36",
  waiting: "#7aa7d9",
};

export interface HourBucket {
  /** Start of the hour, ISO 8601. */
  hour: string;
  counts: Partial<Record<Outcome, number>>;
}

/** The smallest 1, 2 or 5 × 10^k that is at least `n` (at least 1), for a readable axis. */
export function niceMax(n: number): number {
  if (n <= 1) return 1;
  const exp = Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) {
    const v = m * 10 ** exp;
    if (v >= n) return v;
  }
  return 10 ** (exp + 1);
}

/**
 * Fills the hours with no submissions so the time axis is continuous: `hours` buckets ending
 * with the hour that contains `now`.
 */
export function fillHours(buckets: HourBucket[], now: Date, hours = 168): HourBucket[] {
  const byHour = new Map(buckets.map((b) => [new Date(b.hour).getTime(), b.counts]));
  const end = Math.floor(now.getTime() / 3_600_000) * 3_600_000;
  const out: HourBucket[] = [];
  for (let i = hours - 1; i >= 0; i--) {
    const t = end - i * 3_600_000;
    out.push({ hour: new Date(t).toISOString(), counts: byHour.get(t) ?? {} });
  }
  return out;
}

const W = 960, H = 260, LEFT = 44, RIGHT = 8, TOP = 10, BOTTOM = 34;
/** Width of a day label ("Mon 30 Nov") at font-size 11, with a little room. */
const LABEL_W = 66;

export function HourlyChart(props: { buckets: HourBucket[]; timeZone: string }) {
  const { buckets } = props;
  const totals = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  let peak = 0;
  for (const b of buckets) {
    let sum = 0;
    for (const o of OUTCOMES) {
      const n = b.counts[o] ?? 0;
      totals[o] += n;
      sum += n;
    }
    peak = Math.max(peak, sum);
  }
  const max = niceMax(peak);
  const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
  const step = plotW / Math.max(buckets.length, 1);
  const barW = Math.max(step - 1, 1);
  const y = (v: number) => TOP + plotH - (v / max) * plotH;
  const day = new Intl.DateTimeFormat("en-GB", {
    timeZone: props.timeZone,
    weekday: "short",
    day: "numeric",
    month: "short",
  });
  const hourOf = new Intl.DateTimeFormat("en-GB", {
    timeZone: props.timeZone,
    hour: "2-digit",
    hourCycle: "h23",
  });
  const summary = OUTCOMES.map((o) => `${totals[o]} ${o}`).join(", ");
  return (
    <figure class="chart">
      <svg
        class="chart-wide"
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-labelledby="chart-title chart-desc"
        xmlns="http://www.w3.org/2000/svg"
      >
        <title id="chart-title">Submissions per hour by outcome, last 7 days</title>
        <desc id="chart-desc">{`Totals: ${summary}. Highest hour: ${peak}.`}</desc>
        {(max % 2 === 0 ? [0, max / 2, max] : [0, max]).map((v) => (
          <g>
            <line x1={LEFT} x2={W - RIGHT} y1={y(v)} y2={y(v)} stroke="#d8dee6" />
            <text x={LEFT - 6} y={y(v) + 4} text-anchor="end" font-size="11" fill="#5b6776">
              {v}
            </text>
          </g>
        ))}
        {buckets.map((b, i) => {
          const x = LEFT + i * step;
          let base = 0;
          const bars = OUTCOMES.map((o) => {
            const n = b.counts[o] ?? 0;
            if (!n) return null;
            const top = y(base + n), bottom = y(base);
            base += n;
            return (
              <rect x={x} y={top} width={barW} height={bottom - top} fill={OUTCOME_COLORS[o]}>
                <title>{`${b.hour}: ${n} ${o}`}</title>
              </rect>
            );
          });
          // A day label at each local midnight.
          const d = new Date(b.hour);
          const label = hourOf.format(d) === "00"
            ? (
              <g>
                <line x1={x} x2={x} y1={TOP} y2={TOP + plotH + 4} stroke="#aab4c0" />
                {x + 3 + LABEL_W > W - RIGHT
                  ? ( // today's label near the right edge: flush right, not clipped
                    <text x={W - RIGHT} y={H - 12} text-anchor="end" font-size="11" fill="#394656">
                      {day.format(d)}
                    </text>
                  )
                  : <text x={x + 3} y={H - 12} font-size="11" fill="#394656">{day.format(d)}</text>}
              </g>
            )
            : null;
          if (!label && base === 0) return null;
          return (
            <g>
              {label}
              {bars}
            </g>
          );
        })}
        <line x1={LEFT} x2={W - RIGHT} y1={TOP + plotH} y2={TOP + plotH} stroke="#394656" />
      </svg>
      <DailyChart buckets={buckets} timeZone={props.timeZone} />
      <figcaption>
        <ul class="legend">
          {OUTCOMES.map((o) => (
            <li>
              <i class={`o-${o}`}></i>
              {o} ({totals[o]})
            </li>
          ))}
        </ul>
        <p class="muted">
          Each bar is one hour ({props.timeZone}; on a narrow screen, one day), by when the
          submission arrived, coloured by its outcome now; "waiting" is queued, running or retrying.
        </p>
      </figcaption>
    </figure>
  );
}

// The phone's version: 168 hour bars in 960 units shrank to a third at 390 px, and their labels
// to 4 px; day bars in 360 units keep labels near their written size (phone.css picks one).
const DW = 360, DH = 210, DLEFT = 34, DRIGHT = 6, DTOP = 10, DBOTTOM = 40;

/** The buckets' counts summed per day in `timeZone`, oldest first, labelled "Sun 3". */
export function dayBuckets(buckets: HourBucket[], timeZone: string) {
  const label = new Intl.DateTimeFormat("en-GB", { timeZone, weekday: "short", day: "numeric" });
  const days: { label: string; counts: Record<string, number> }[] = [];
  for (const b of buckets) {
    const l = label.format(new Date(b.hour));
    if (days.at(-1)?.label !== l) days.push({ label: l, counts: {} });
    const day = days.at(-1)!;
    for (const o of OUTCOMES) day.counts[o] = (day.counts[o] ?? 0) + (b.counts[o] ?? 0);
  }
  return days;
}

export function DailyChart(props: { buckets: HourBucket[]; timeZone: string }) {
  const days = dayBuckets(props.buckets, props.timeZone);
  const totals = days.map((d) => OUTCOMES.reduce((a, o) => a + d.counts[o], 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotW = DW - DLEFT - DRIGHT, plotH = DH - DTOP - DBOTTOM;
  const step = plotW / Math.max(days.length, 1);
  const y = (v: number) => DTOP + plotH - (v / max) * plotH;
  const summary = days.map((d, i) => `${d.label}: ${totals[i]}`).join(", ");
  return (
    <svg
      class="chart-narrow"
      viewBox={`0 0 ${DW} ${DH}`}
      role="img"
      aria-labelledby="chart-days-title chart-days-desc"
      xmlns="http://www.w3.org/2000/svg"
    >
      <title id="chart-days-title">Submissions per day by outcome, last 7 days</title>
      <desc id="chart-days-desc">{`Per day: ${summary}.`}</desc>
      {(max % 2 === 0 ? [0, max / 2, max] : [0, max]).map((v) => (
        <g>
          <line x1={DLEFT} x2={DW - DRIGHT} y1={y(v)} y2={y(v)} stroke="#d8dee6" />
          <text x={DLEFT - 5} y={y(v) + 4} text-anchor="end" font-size="11" fill="#5b6776">
            {v}
          </text>
        </g>
      ))}
      {days.map((d, i) => {
        const x = DLEFT + i * step;
        let base = 0;
        return (
          <g>
            {OUTCOMES.map((o) => {
              const n = d.counts[o];
              if (!n) return null;
              const top = y(base + n), bottom = y(base);
              base += n;
              return (
                <rect
                  x={x + step * 0.15}
                  y={top}
                  width={step * 0.7}
                  height={bottom - top}
                  fill={OUTCOME_COLORS[o]}
                >
                  <title>{`${d.label}: ${n} ${o}`}</title>
                </rect>
              );
            })}
            {/* Weekday over day: eight "Mon 30" labels do not fit side by side in 360. */}
            {d.label.split(" ").map((part, line) => (
              <text
                x={x + step / 2}
                y={DH - 24 + line * 14}
                text-anchor="middle"
                font-size="11"
                fill="#394656"
              >
                {part}
              </text>
            ))}
          </g>
        );
      })}
      <line x1={DLEFT} x2={DW - DRIGHT} y1={DTOP + plotH} y2={DTOP + plotH} stroke="#394656" />
    </svg>
  );
}
