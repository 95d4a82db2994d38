/**
 * The soak's mixed load, shared by `deno task soak` and scripts/soak_probe.ts: accepted
 * submissions (most), submission listings, bodies that fail validation and unknown tokens
 * (each with its own request-log row and log line), open-loop at `rate` requests/s.
 */
import { SAMPLE_SUBMISSION } from "./sample.ts";

export interface LoadTarget {
  /** The gateway's `/api/v3` URL. */
  api: string;
  apiToken: string;
  adminToken: string;
}

function calls(t: LoadTarget): Array<[number, () => Promise<Response>]> {
  const body = JSON.stringify(SAMPLE_SUBMISSION);
  const post = (auth: string, b: string) =>
    fetch(`${t.api}/aggregate`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: auth },
      body: b,
    });
  return [
    [70, () => post(`Token ${t.apiToken}`, body)],
    [10, () =>
      fetch(`${t.api}/logs?limit=20`, {
        headers: { Authorization: `Bearer ${t.adminToken}` },
      })],
    [10, () =>
      post(
        `Token ${t.apiToken}`,
        JSON.stringify({ ...SAMPLE_SUBMISSION, period: `bad-${crypto.randomUUID()}` }),
      )],
    [10, () => post(`Token unknown-${crypto.randomUUID()}`, body)],
  ];
}

/** Runs the mix until `until` (performance.now() ms); counts responses by status. */
export async function mixedLoad(
  t: LoadTarget,
  o: { until: number; rate: number },
  counts: Record<string, number>,
): Promise<void> {
  const mix = calls(t);
  const pick = (i: number) => {
    let n = i % 100;
    for (const [w, f] of mix) {
      if (n < w) return f;
      n -= w;
    }
    return mix[0][1];
  };
  const t0 = performance.now();
  const inflight = new Set<Promise<void>>();
  for (let i = 0; performance.now() < o.until; i++) {
    const due = t0 + (i * 1000) / o.rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (inflight.size >= 64) await Promise.race(inflight); // never pile up without bound
    const p = pick(i * 37)().then(async (res) => {
      await res.body?.cancel();
      counts[res.status] = (counts[res.status] ?? 0) + 1;
    }, () => {
      counts.error = (counts.error ?? 0) + 1;
    }).finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
}
