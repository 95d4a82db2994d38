/** The Status page's "Destinations" card: each DHIS2's health, breaker, queue and window. */
import type { z } from "@hono/zod-openapi";
import { Card, formatAge, num, Table, Time } from "./components.tsx";
import type { DestinationStatusSchema } from "./destinations_status.ts";

type Destination = z.infer<typeof DestinationStatusSchema>;

function health(d: Destination): string {
  if (!d.configured) return "not configured here";
  if (d.reachable === null) return "no URL";
  if (!d.reachable) return "unreachable";
  return d.error ? `answers HTTP ${d.httpStatus ?? "?"}` : "reachable";
}

function breaker(d: Destination): string {
  if (!d.breaker) return "no worker here";
  const b = d.breaker;
  const state = b.state.replace("_", "-");
  return b.consecutiveFailures > 0 ? `${state}, ${b.consecutiveFailures} failures` : state;
}

export function DestinationsCard(props: { destinations: Destination[]; tz: string }) {
  return (
    <Card id="destinations-title" title="Destinations">
      <Table
        columns={[
          "Destination",
          "DHIS2",
          "Breaker",
          num("Queued"),
          num("Running"),
          num("Retrying"),
          num("Held"),
          "Oldest waiting",
          "Window",
        ]}
        rows={props.destinations}
        empty={{ text: "No destination configured.", span: 9 }}
        row={(d) => (
          <tr data-destination={d.name}>
            <td>
              <a href={`/admin/submissions?destination=${encodeURIComponent(d.name)}`}>
                {d.name}
              </a>
              <div class="muted wrap">{d.url ?? ""}</div>
            </td>
            <td class="wrap" data-health>
              {health(d)}
              {d.version && <div class="muted">version {d.version}</div>}
              {d.error && <div class="muted">{d.error}</div>}
            </td>
            <td class="nowrap" data-breaker>
              {breaker(d)}
              {d.breaker?.nextProbeAt && (
                <div class="muted">
                  probe <Time value={d.breaker.nextProbeAt} tz={props.tz} />
                </div>
              )}
            </td>
            <td class="num" data-queue="queued">{d.queue.queued}</td>
            <td class="num" data-queue="running">{d.queue.running}</td>
            <td class="num" data-queue="retrying">{d.queue.retrying}</td>
            <td class="num" data-queue="held">{d.queue.held}</td>
            <td class="nowrap" data-oldest>
              {d.queue.oldestWaitingSeconds === null
                ? <span class="muted">none</span>
                : formatAge(d.queue.oldestWaitingSeconds)}
            </td>
            <td class="nowrap" data-window>
              {d.window
                ? (
                  <div>
                    {d.window} {d.windowOpen ? "open" : "closed"}
                    {d.nextWindowChangeAt && (
                      <div class="muted">
                        until <Time value={d.nextWindowChangeAt} tz={props.tz} />
                      </div>
                    )}
                  </div>
                )
                : <span class="muted">always</span>}
            </td>
          </tr>
        )}
      />
    </Card>
  );
}
