/** The Status page's fragment, over GET /api/v2/status. */
import { Hono } from "hono";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/env.ts";
import { must } from "./api.ts";
import { fillHours, HourlyChart } from "./chart.tsx";
import { StatusBadge, Time } from "./components.tsx";
import type { FragmentContext } from "./fragments.ts";
import type { StatusSchema } from "./status_routes.ts";
import { SUBMISSION_STATUSES } from "./pages.tsx";

type Status = z.infer<typeof StatusSchema>;

/** "3 h 12 min", "45 s": how long the oldest submission has waited. */
export function formatAge(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days ${h % 24} h`;
}

const BREAKER_TEXT = {
  closed: "closed: deliveries flow",
  open: "open: deliveries paused after repeated failures",
  half_open: "half-open: one probe delivery is testing DHIS2",
} as const;

export function statusFragments(ctx: FragmentContext): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get("/", async (c) => {
    const s = must(await ctx.api(c).get<Status>("/status"));
    const tz = s.timeZone;
    const d = s.dhis2;
    const buckets = fillHours(s.hourly, new Date(s.generatedAt));
    return c.html(
      <div>
        <div class="tiles">
          <div class="tile">
            <div class="muted">Waiting for delivery</div>
            <div class="big" data-waiting>{s.queue.waiting}</div>
            <div class="muted">queued, running or retrying</div>
          </div>
          <div class="tile">
            <div class="muted">Oldest waiting</div>
            {s.queue.oldestWaiting
              ? (
                <div>
                  <div class="big">{formatAge(s.queue.oldestWaiting.ageSeconds)}</div>
                  <a href={`/admin/submissions/${s.queue.oldestWaiting.id}`}>
                    Submission {s.queue.oldestWaiting.id}
                  </a>{" "}
                  <StatusBadge status={s.queue.oldestWaiting.status} />
                </div>
              )
              : <div class="big">none</div>}
          </div>
          <div class="tile">
            <div class="muted">DHIS2</div>
            <div class="big">
              {d.reachable && !d.error
                ? "reachable"
                : d.reachable
                ? "answers, with errors"
                : "unreachable"}
            </div>
            <div>
              {d.version ? `version ${d.version}` : "version unknown"}
              {d.durationMs !== null && <span class="muted">, answered in {d.durationMs} ms</span>}
            </div>
            {d.error && <div class="alert error">{d.error}</div>}
            <div class="muted wrap">{d.url ?? "no URL configured"}</div>
          </div>
          <div class="tile">
            <div class="muted">Circuit breaker</div>
            {!s.circuitBreakers.known && (
              <div>
                <div class="big">unknown</div>
                <div class="muted">No delivery worker runs in this process.</div>
              </div>
            )}
            {s.circuitBreakers.known && s.circuitBreakers.destinations.length === 0 && (
              <div>
                <div class="big">closed</div>
                <div class="muted">No delivery attempted since the worker started.</div>
              </div>
            )}
            {s.circuitBreakers.destinations.map((b) => (
              <div>
                <div class="big">{b.state.replace("_", "-")}</div>
                <div>{BREAKER_TEXT[b.state]}</div>
                {b.consecutiveFailures > 0 && (
                  <div class="muted">{b.consecutiveFailures} failures in a row</div>
                )}
                {b.nextProbeAt && (
                  <div class="muted">
                    next probe <Time value={b.nextProbeAt} tz={tz} />
                  </div>
                )}
              </div>
            ))}
          </div>
        </div>
        <section class="card" aria-labelledby="depth-title">
          <h2 id="depth-title">Submissions by status</h2>
          <table>
            <thead>
              <tr>
                {SUBMISSION_STATUSES.map((st) => (
                  <th scope="col" class="center">
                    <StatusBadge status={st} />
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              <tr>
                {SUBMISSION_STATUSES.map((st) => (
                  <td class="center num-font">
                    <a href={`/admin/submissions?status=${st}`} data-count={st}>
                      {s.queue.byStatus[st] ?? 0}
                    </a>
                  </td>
                ))}
              </tr>
            </tbody>
          </table>
        </section>
        <section class="card" aria-labelledby="chart-h">
          <h2 id="chart-h">Submissions per hour, last 7 days</h2>
          <HourlyChart buckets={buckets} timeZone={tz} />
        </section>
        <p class="muted">
          As of <Time value={s.generatedAt} tz={tz} />; DHIS2 checked{" "}
          <Time value={d.checkedAt} tz={tz} /> (at most every 15 s).
        </p>
      </div>,
    );
  });
  return r;
}
