/**
 * Each DHIS2 destination checked at start and every minute: `GET /api/system/info` with the
 * gateway's credentials, which answers only when DHIS2 is up and accepts them. A change of
 * state is logged at `warn` (the first check, when fine, at `info`); the console shows a banner
 * while a destination is not `ok`, and GET /metrics publishes `dhis2gw_destination_up`.
 *
 * One check per destination at a time, whatever calls check(): a slow DHIS2 never piles up
 * requests from its own monitor.
 */
import type { Logger } from "../logs/logger.ts";
import type { Dhis2Client, Dhis2Read, SystemInfo } from "./client.ts";

export type HealthState = "unknown" | "ok" | "unreachable" | "credentials_refused" | "failing";

export interface DestinationHealth {
  name: string;
  /** The DHIS2 API URL (never carries credentials: the client refuses such URLs). */
  url: string;
  state: HealthState;
  httpStatus: number | null;
  error: string | null;
  version: string | null;
  durationMs: number | null;
  checkedAt: string | null;
  /** When `state` last changed (the first check counts). */
  changedAt: string | null;
}

export interface MonitoredDestination {
  name: string;
  client: Pick<Dhis2Client, "getSystemInfo" | "apiUrl">;
}

export interface HealthMonitorOptions {
  destinations: readonly MonitoredDestination[];
  log: Logger;
  /** Default 60 s. */
  intervalMs?: number;
  now?: () => Date;
  /** Told each version read, for intake's version-dependent checks. */
  onVersion?: (name: string, version: unknown) => void;
}

export const HEALTH_INTERVAL_MS = 60_000;

/** What a system/info answer says about the destination. */
export function classify(r: Dhis2Read<SystemInfo>): HealthState {
  if (r.ok) return "ok";
  if (r.httpStatus === undefined) return "unreachable";
  // DHIS2 redirects to its login page when it saw no (or no valid) credentials.
  if (r.httpStatus === 401 || r.httpStatus === 403) return "credentials_refused";
  if (r.httpStatus >= 300 && r.httpStatus < 400) return "credentials_refused";
  return "failing";
}

const MESSAGES: Record<HealthState, string> = {
  unknown: "DHIS2 destination not checked yet",
  ok: "DHIS2 destination reachable and accepting the gateway's credentials",
  unreachable: "DHIS2 destination unreachable",
  credentials_refused: "DHIS2 destination refuses the gateway's credentials",
  failing: "DHIS2 destination answers with an error",
};

export class HealthMonitor {
  readonly #o: HealthMonitorOptions;
  readonly #now: () => Date;
  readonly #health = new Map<string, DestinationHealth>();
  readonly #inFlight = new Map<string, Promise<DestinationHealth>>();
  #timer?: ReturnType<typeof setInterval>;

  constructor(opts: HealthMonitorOptions) {
    this.#o = opts;
    this.#now = opts.now ?? (() => new Date());
    for (const d of opts.destinations) {
      this.#health.set(d.name, {
        name: d.name,
        url: d.client.apiUrl,
        state: "unknown",
        httpStatus: null,
        error: null,
        version: null,
        durationMs: null,
        checkedAt: null,
        changedAt: null,
      });
    }
  }

  /** Checks now, then every interval; the first round runs in the background. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.checkAll();
    this.#timer = setInterval(() => this.checkAll(), this.#o.intervalMs ?? HEALTH_INTERVAL_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Every destination checked once (joining checks already running). */
  checkAll(): Promise<DestinationHealth[]> {
    return Promise.all(this.#o.destinations.map((d) => this.check(d.name)));
  }

  check(name: string): Promise<DestinationHealth> {
    const d = this.#o.destinations.find((x) => x.name === name);
    if (!d) return Promise.reject(new Error(`no destination ${name}`));
    let p = this.#inFlight.get(name);
    if (!p) {
      p = this.#check(d).finally(() => this.#inFlight.delete(name));
      this.#inFlight.set(name, p);
    }
    return p;
  }

  async #check(d: MonitoredDestination): Promise<DestinationHealth> {
    let r: Dhis2Read<SystemInfo>;
    try {
      r = await d.client.getSystemInfo();
    } catch (err) {
      r = { ok: false, error: (err as Error).message, timedOut: false, durationMs: 0 };
    }
    const prev = this.#health.get(d.name)!;
    const at = this.#now().toISOString();
    const state = classify(r);
    const next: DestinationHealth = {
      ...prev,
      state,
      httpStatus: r.httpStatus ?? null,
      error: r.ok ? null : r.error,
      version: r.ok && typeof r.value.version === "string" ? r.value.version : prev.version,
      durationMs: Math.round(r.durationMs),
      checkedAt: at,
      changedAt: state === prev.state ? prev.changedAt : at,
    };
    this.#health.set(d.name, next);
    if (r.ok) this.#o.onVersion?.(d.name, r.value.version);
    if (state !== prev.state) {
      const fields = {
        destination: d.name,
        url: d.client.apiUrl,
        state,
        previous: prev.state,
        httpStatus: next.httpStatus,
        error: next.error,
        durationMs: next.durationMs,
      };
      if (state === "ok" && prev.state === "unknown") this.#o.log.info(MESSAGES.ok, fields);
      else {this.#o.log.warn(
          state === "ok" ? "DHIS2 destination recovered" : MESSAGES[state],
          fields,
        );}
    }
    return next;
  }

  snapshot(): DestinationHealth[] {
    return this.#o.destinations.map((d) => this.#health.get(d.name)!);
  }
}
