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

/** Each kind's share of the load (out of 100) and its request. */
function calls(t: LoadTarget): Array<[number, string, () => Promise<Response>]> {
  const body = JSON.stringify(SAMPLE_SUBMISSION);
  const post = (auth: string, b: string) =>
    fetch(`${t.api}/aggregate`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: auth },
      body: b,
    });
  return [
    [70, "submit", () => post(`Token ${t.apiToken}`, body)],
    // page_size: `limit` is no parameter of the listing, which answered 422 to it.
    [10, "list", () =>
      fetch(`${t.api}/logs?page_size=20`, {
        headers: { Authorization: `Bearer ${t.adminToken}` },
      })],
    [10, "invalid", () =>
      post(
        `Token ${t.apiToken}`,
        JSON.stringify({ ...SAMPLE_SUBMISSION, period: `bad-${crypto.randomUUID()}` }),
      )],
    [10, "unknown token", () => post(`Token unknown-${crypto.randomUUID()}`, body)],
  ];
}

/**
 * Runs the mix until `until` (performance.now() ms); counts responses by status, and by kind
 * and status in `kinds` when given.
 */
export async function mixedLoad(
  t: LoadTarget,
  o: { until: number; rate: number },
  counts: Record<string, number>,
  kinds: Record<string, Record<string, number>> = {},
): Promise<void> {
  const mix = calls(t);
  const pick = (i: number) => {
    let n = i % 100;
    for (const m of mix) {
      if (n < m[0]) return m;
      n -= m[0];
    }
    return mix[0];
  };
  const t0 = performance.now();
  const inflight = new Set<Promise<void>>();
  for (let i = 0; performance.now() < o.until; i++) {
    const due = t0 + (i * 1000) / o.rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (inflight.size >= 64) await Promise.race(inflight); // never pile up without bound
    const [, kind, call] = pick(i * 37);
    const count = (status: string) => {
      counts[status] = (counts[status] ?? 0) + 1;
      const k = kinds[kind] ??= {};
      k[status] = (k[status] ?? 0) + 1;
    };
    const p = call().then(async (res) => {
      await res.body?.cancel();
      count(String(res.status));
    }, () => count("error")).finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
}
