/**
 * A destination's delivery window: the local time of day during which deliveries may start
 * (`18:00-06:00` for an instance that struggles in office hours). Pure: every function takes
 * `now`. A window that crosses midnight wraps; a delivery already running when it closes is
 * left to finish.
 */

export interface DeliveryWindow {
  /** Minutes after local midnight. */
  start: number;
  end: number;
}

export function parseWindow(text: string): DeliveryWindow | null {
  const m = /^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$/.exec(text);
  if (!m) return null;
  const [h1, m1, h2, m2] = m.slice(1).map(Number);
  if (h1 > 23 || h2 > 23 || m1 > 59 || m2 > 59) return null;
  const start = h1 * 60 + m1;
  const end = h2 * 60 + m2;
  return start === end ? null : { start, end };
}

/** Minutes since local midnight in `timeZone`, with seconds as a fraction. */
function localMinutes(now: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone,
    hourCycle: "h23",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(now);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return get("hour") * 60 + get("minute") + get("second") / 60;
}

function inside(w: DeliveryWindow, minute: number): boolean {
  return w.start < w.end
    ? minute >= w.start && minute < w.end
    : minute >= w.start || minute < w.end;
}

/**
 * Whether deliveries may start now, and when that next changes (to the minute; a DST jump may
 * move it by an hour, which only delays the next check). `null` window: always open.
 */
export function windowState(
  w: DeliveryWindow | null,
  now: Date,
  timeZone: string,
): { open: boolean; nextChangeAt: Date | null } {
  if (!w) return { open: true, nextChangeAt: null };
  const minute = localMinutes(now, timeZone);
  const open = inside(w, minute);
  const target = open ? w.end : w.start;
  const wait = ((target - minute) % 1440 + 1440) % 1440 || 1440;
  return { open, nextChangeAt: new Date(now.getTime() + Math.ceil(wait * 60_000)) };
}
