/** The soak's HTTP client: every call has a deadline, and every answer is counted by operation and code. */

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export interface OpStats {
  count: number;
  by_answer: Map<string, number>;
  latencies_ms: number[];
}

const latency_samples_max = 20_000;

export class SoakClient {
  readonly ops = new Map<string, OpStats>();
  timeouts = 0;
  transport_errors = 0;

  constructor(
    private readonly url: string,
    private readonly timeout_ms: number,
  ) {}

  /** One request; null when it got no answer (timeout or a broken connection), which is counted too. */
  async call(op: string, key: string, method: string, path: string, body?: unknown): Promise<Answer | null> {
    const started = performance.now();
    try {
      const res = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeout_ms),
      });
      const text = await res.text();
      const json = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
      const code = (json.error as { code?: string } | undefined)?.code;
      this.count(
        op,
        res.status < 400 ? String(res.status) : `${res.status} ${code ?? '?'}`,
        performance.now() - started,
      );
      return { status: res.status, body: json };
    } catch (err) {
      const timeout = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      if (timeout) this.timeouts++;
      else this.transport_errors++;
      this.count(op, timeout ? 'timeout' : 'transport_error', performance.now() - started);
      return null;
    }
  }

  private count(op: string, label: string, ms: number): void {
    let s = this.ops.get(op);
    if (!s) {
      s = { count: 0, by_answer: new Map(), latencies_ms: [] };
      this.ops.set(op, s);
    }
    s.count++;
    s.by_answer.set(label, (s.by_answer.get(label) ?? 0) + 1);
    // Reservoir-free bound: keep the first samples and then every k-th, enough for percentiles.
    if (s.latencies_ms.length < latency_samples_max || s.count % 10 === 0) {
      if (s.latencies_ms.length >= latency_samples_max) s.latencies_ms.shift();
      s.latencies_ms.push(ms);
    }
  }

  /** Answers the soak treats as failures: server errors and no answer at all. */
  failures(): number {
    let n = this.timeouts + this.transport_errors;
    for (const s of this.ops.values())
      for (const [label, k] of s.by_answer) if (label.startsWith('5') && !label.startsWith('503')) n += k;
    return n;
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}
