/** Prometheus label values escape backslash, newline and double quote. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

interface Series {
  /** The series' labels, rendered once. */
  labels: string;
  /** Observations per bucket (not cumulative); the ones above the last bound count only in count. */
  counts: number[];
  sum: number;
  count: number;
}

/**
 * The request-latency histogram, observed on every request. prom-client's Histogram validates
 * and hashes its label object on every observe, which costs as much as the rest of the metrics
 * path together; this one finds its series by one string and renders the same Prometheus text
 * as prom-client at scrape time. Series are bounded: past series_max, new label sets are left out.
 */
export class LatencyHistogram {
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets_s: readonly number[],
    private readonly series_max = 1000,
  ) {}

  observe(method: string, route: string, status_code: number, seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    const key = `${status_code} ${method} ${route}`;
    let s = this.series.get(key);
    if (s === undefined) {
      if (this.series.size >= this.series_max) return;
      const labels = `method="${escapeLabel(method)}",route="${escapeLabel(route)}",status_code="${status_code}"`;
      s = { labels, counts: this.buckets_s.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets_s.length; i++) {
      if (seconds <= (this.buckets_s[i] ?? Number.POSITIVE_INFINITY)) {
        s.counts[i] = (s.counts[i] ?? 0) + 1;
        break;
      }
    }
    s.sum += seconds;
    s.count += 1;
  }

  /** The Prometheus text exposition of every series (no trailing newline). */
  text(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (const [i, le] of this.buckets_s.entries()) {
        cumulative += s.counts[i] ?? 0;
        lines.push(`${this.name}_bucket{le="${le}",${s.labels}} ${cumulative}`);
      }
      lines.push(`${this.name}_bucket{le="+Inf",${s.labels}} ${s.count}`);
      lines.push(`${this.name}_sum{${s.labels}} ${s.sum}`);
      lines.push(`${this.name}_count{${s.labels}} ${s.count}`);
    }
    return lines.join('\n');
  }
}
