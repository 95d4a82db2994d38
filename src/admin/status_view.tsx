/** The Status page's fragment, over GET /api/v3/status. */
import { Hono } from "hono";
import type { Context } from "hono";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/env.ts";
import { STATUSES } from "../queue/queries.ts";
import { must } from "./api.ts";
import { fillHours, HourlyChart } from "./chart.tsx";
import { Card, formatAge, StatusBadge, Table, Time } from "./components.tsx";
import { DestinationsCard } from "./destinations_view.tsx";
import type { FragmentContext } from "./context.ts";
import type { StatusSchema } from "./status_routes.ts";

type Status = z.infer<typeof StatusSchema>;

const BREAKER_TEXT = {
  closed: "closed: deliveries flow",
  open: "open: deliveries paused after repeated failures",
  half_open: "half-open: one probe delivery is testing DHIS2",
} as const;

export function statusFragments(ctx: FragmentContext): Hono<AppEnv> {
  return new Hono<AppEnv>().get("/", (c) => statusView(ctx, c));
}

async function statusView(ctx: FragmentContext, c: Context<AppEnv>) {
  const s = must(await ctx.api(c).get<Status>("/status"));
  const tz = s.timeZone;
  const buckets = fillHours(s.hourly, new Date(s.generatedAt));
  return c.html(
    <div>
      <div class="tiles">
        <div class="tile">
          <div class="muted">Waiting for delivery</div>
          <div class="big" data-waiting>{s.queue.waiting}</div>
          <div class="muted">queued, running or retrying</div>
        </div>
        <OldestTile oldest={s.queue.oldestWaiting} />
        <Dhis2Tile d={s.dhis2} />
        <BreakerTile breakers={s.circuitBreakers} tz={tz} />
      </div>
      <DestinationsCard destinations={s.destinations} tz={tz} />
      <Card id="depth-title" title="Submissions by status">
        <Table
          columns={STATUSES.map((st) => ({ label: <StatusBadge status={st} />, class: "center" }))}
          rows={[s.queue.byStatus]}
          row={(byStatus) => (
            <tr>
              {STATUSES.map((st) => (
                <td class="center num-font">
                  <a href={`/admin/submissions?status=${st}`} data-count={st}>
                    {byStatus[st] ?? 0}
                  </a>
                </td>
              ))}
            </tr>
          )}
        />
      </Card>
      <Card id="chart-h" title="Submissions per hour, last 7 days">
        <HourlyChart buckets={buckets} timeZone={tz} />
      </Card>
      <p class="muted">
        As of <Time value={s.generatedAt} tz={tz} />; DHIS2 checked{" "}
        <Time value={s.dhis2.checkedAt} tz={tz} /> (at most every 15 s).
      </p>
    </div>,
  );
}

function OldestTile(props: { oldest: Status["queue"]["oldestWaiting"] }) {
  const o = props.oldest;
  return (
    <div class="tile">
      <div class="muted">Oldest waiting</div>
      {o
        ? (
          <div>
            <div class="big">{formatAge(o.ageSeconds)}</div>
            <a href={`/admin/submissions/${o.id}`}>
              Submission {o.id}
            </a>{" "}
            <StatusBadge status={o.status} />
          </div>
        )
        : <div class="big">none</div>}
    </div>
  );
}

function Dhis2Tile(props: { d: Status["dhis2"] }) {
  const d = props.d;
  return (
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
  );
}

function BreakerTile(props: { breakers: Status["circuitBreakers"]; tz: string }) {
  const { known, destinations } = props.breakers;
  return (
    <div class="tile">
      <div class="muted">Circuit breaker</div>
      {!known && (
        <div>
          <div class="big">unknown</div>
          <div class="muted">No delivery worker runs in this process.</div>
        </div>
      )}
      {known && destinations.length === 0 && (
        <div>
          <div class="big">closed</div>
          <div class="muted">No delivery attempted since the worker started.</div>
        </div>
      )}
      {destinations.map((b) => (
        <div data-breaker-of={b.destination}>
          {destinations.length > 1 && <div class="muted">{b.destination}</div>}
          <div class="big">{b.state.replace("_", "-")}</div>
          <div>{BREAKER_TEXT[b.state]}</div>
          {b.consecutiveFailures > 0 && (
            <div class="muted">{b.consecutiveFailures} failures in a row</div>
          )}
          {b.nextProbeAt && (
            <div class="muted">
              next probe <Time value={b.nextProbeAt} tz={props.tz} />
            </div>
          )}
        </div>
      ))}
    </div>
  );
}
