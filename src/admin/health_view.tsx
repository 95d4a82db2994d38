/**
 * The banner every console page shows while a DHIS2 destination is unreachable, refuses the
 * gateway's credentials, answers with errors, or its circuit breaker is open. Empty otherwise.
 * The page polls it (layout.tsx, data-poll).
 */
import { Hono } from "hono";
import type { AppEnv } from "../http/env.ts";
import { must } from "./api.ts";
import type { FragmentContext } from "./context.ts";
import { type Health, needsAlert } from "./health_routes.ts";

const STATE_TEXT: Record<Health["destinations"][number]["state"], string> = {
  unknown: "not checked yet",
  ok: "reachable",
  unreachable: "is unreachable",
  credentials_refused: "refuses the gateway's credentials",
  failing: "answers with errors",
};

function problem(d: Health["destinations"][number]): string {
  const parts: string[] = [];
  if (d.state !== "ok" && d.state !== "unknown") {
    parts.push(`${STATE_TEXT[d.state]}${d.httpStatus ? ` (HTTP ${d.httpStatus})` : ""}`);
  }
  if (d.breaker === "open") parts.push("deliveries are paused (circuit breaker open)");
  if (d.breaker === "half_open") parts.push("one probe delivery is testing it (circuit half-open)");
  return `DHIS2 "${d.name}" ${parts.join("; ")}.`;
}

export function healthFragments(ctx: FragmentContext): Hono<AppEnv> {
  return new Hono<AppEnv>().get("/", async (c) => {
    // A submitting system's account signs in too but may not read the gateway's status.
    if (ctx.role(c) === "submitter") return c.html("");
    const h = must(await ctx.api(c).get<Health>("/status/health"));
    const bad = h.destinations.filter(needsAlert);
    if (!bad.length) return c.html("");
    return c.html(
      <div class="alert error banner" role="alert" data-health-banner>
        {bad.map((d) => (
          <p>
            <strong>{problem(d)}</strong>{" "}
            {d.error && !d.error.endsWith(`HTTP ${d.httpStatus}`) && (
              <span class="wrap">{d.error}</span>
            )}
          </p>
        ))}
        <p>
          Submissions are still accepted and wait in the queue. <a href="/admin/status">Status</a>
        </p>
      </div>,
    );
  });
}
