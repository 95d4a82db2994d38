/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the
 * text exposition format 0.0.4 (what `promtool check metrics` reads). Written here rather than
 * taken from prom-client: that one pulls in Node's cluster and perf_hooks and does far more than
 * the dozen series dhis2gw publishes.
 */

export type Labels = Readonly<Record<string, string>>;

/** `text/plain; version=0.0.4`: the format every Prometheus since 1.x scrapes. */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeHelp(s: string): string {
  return s.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function escapeValue(s: string): string {
  return s.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function labelText(names: readonly string[], values: readonly string[], extra = ""): string {
  const parts = names.map((n, i) => `${n}="${escapeValue(values[i])}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}

abstract class Family {
  abstract readonly type: "counter" | "gauge" | "histogram";
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!NAME.test(name)) throw new TypeError(`bad metric name ${name}`);
    for (const l of labelNames) {
      if (!LABEL.test(l) || l.startsWith("__") || l === "le") {
        throw new TypeError(`bad label name ${l} on ${name}`);
      }
    }
  }

  protected key(labels: Labels): { key: string; values: string[] } {
    const values = this.labelNames.map((n) => {
      const v = labels[n];
      if (v === undefined) throw new TypeError(`${this.name}: label ${n} missing`);
      return String(v);
    });
    return { key: values.join("\u0000"), values };
  }

  protected abstract samples(): string[];

  render(): string {
    return [
      `# HELP ${this.name} ${escapeHelp(this.help)}`,
      `# TYPE ${this.name} ${this.type}`,
      ...this.samples(),
    ].join("\n");
  }
}

export class Counter extends Family {
  readonly type = "counter";
  readonly #values = new Map<string, { labels: string[]; value: number }>();

  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new RangeError(`${this.name}: a counter only goes up`);
    const { key, values } = this.key(labels);
    const s = this.#values.get(key);
    if (s) s.value += by;
    else this.#values.set(key, { labels: values, value: by });
  }

  get(labels: Labels = {}): number {
    return this.#values.get(this.key(labels).key)?.value ?? 0;
  }

  protected samples(): string[] {
    return [...this.#values.values()].map((s) =>
      `${this.name}${labelText(this.labelNames, s.labels)} ${formatNumber(s.value)}`
    );
  }
}

export class Gauge extends Family {
  readonly type = "gauge";
  readonly #values = new Map<string, { labels: string[]; value: number }>();

  set(labels: Labels, value: number): void {
    const { key, values } = this.key(labels);
    this.#values.set(key, { labels: values, value });
  }

  get(labels: Labels = {}): number | undefined {
    return this.#values.get(this.key(labels).key)?.value;
  }

  protected samples(): string[] {
    return [...this.#values.values()].map((s) =>
      `${this.name}${labelText(this.labelNames, s.labels)} ${formatNumber(s.value)}`
    );
  }
}

export class Histogram extends Family {
  readonly type = "histogram";
  readonly buckets: readonly number[];
  readonly #values = new Map<
    string,
    { labels: string[]; counts: number[]; sum: number; count: number }
  >();

  constructor(name: string, help: string, labelNames: readonly string[], buckets: number[]) {
    super(name, help, labelNames);
    const sorted = [...buckets].sort((a, b) => a - b);
    if (!sorted.length || sorted.some((b, i) => !Number.isFinite(b) || b === sorted[i - 1])) {
      throw new RangeError(`${name}: buckets must be distinct finite numbers`);
    }
    this.buckets = sorted;
  }

  observe(labels: Labels, value: number): void {
    const { key, values } = this.key(labels);
    let s = this.#values.get(key);
    if (!s) {
      s = { labels: values, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#values.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }

  /** Observations so far of one series (tests). */
  count(labels: Labels = {}): number {
    return this.#values.get(this.key(labels).key)?.count ?? 0;
  }

  protected samples(): string[] {
    const out: string[] = [];
    for (const s of this.#values.values()) {
      this.buckets.forEach((b, i) =>
        out.push(
          `${this.name}_bucket${labelText(this.labelNames, s.labels, `le="${formatNumber(b)}"`)} ${
            s.counts[i]
          }`,
        )
      );
      out.push(
        `${this.name}_bucket${labelText(this.labelNames, s.labels, 'le="+Inf"')} ${s.count}`,
      );
      out.push(`${this.name}_sum${labelText(this.labelNames, s.labels)} ${formatNumber(s.sum)}`);
      out.push(`${this.name}_count${labelText(this.labelNames, s.labels)} ${s.count}`);
    }
    return out;
  }
}

/** Families in registration order; a name registered twice is a bug. */
export class Registry {
  readonly #families = new Map<string, Family>();

  #add<F extends Family>(f: F): F {
    if (this.#families.has(f.name)) throw new TypeError(`metric ${f.name} registered twice`);
    this.#families.set(f.name, f);
    return f;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#add(new Gauge(name, help, labelNames));
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: number[],
  ): Histogram {
    return this.#add(new Histogram(name, help, labelNames, buckets));
  }

  /** The exposition text, ending in a newline as the format requires. */
  render(): string {
    const parts = [...this.#families.values()].map((f) => f.render());
    return parts.length ? parts.join("\n") + "\n" : "";
  }
}
