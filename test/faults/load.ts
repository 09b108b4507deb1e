/** A checkout load for fault tests: workers redeem against a few nodes and record every answer. */

export interface Outcome {
  status: number;
  code: string | null;
  retry_after: string | null;
}

export interface LoadReport {
  /** Redemption ids answered 201, with the status they were answered with. */
  acknowledged: Map<string, string>;
  /** Answers by `status code` (e.g. `201`, `503 store_unavailable`). */
  by_answer: Map<string, number>;
  /** Requests that got no answer within the client timeout (a hang). */
  timeouts: number;
  /** Connection refused or reset (a node that died or restarts). */
  connection_errors: number;
  /** 429/503 answers without Retry-After. */
  missing_retry_after: number;
  /** The last time (ms) any 201 came back. */
  last_ok_ms: number;
}

export interface LoadOptions {
  urls: () => string[];
  key: string;
  /** The shared code of the campaign to redeem. */
  code: string;
  workers: number;
  timeout_ms: number;
  /** Unique per load, so user and order ids never collide between loads. */
  tag: string;
}

export function newReport(): LoadReport {
  return {
    acknowledged: new Map(),
    by_answer: new Map(),
    timeouts: 0,
    connection_errors: 0,
    missing_retry_after: 0,
    last_ok_ms: 0,
  };
}

/** One redemption with a bounded wait; never throws. */
export async function redeemOnce(url: string, key: string, body: unknown, timeout_ms: number, idem?: string) {
  try {
    const res = await fetch(`${url}/v1/redemptions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        ...(idem ? { 'idempotency-key': idem } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeout_ms),
    });
    const json = (await res.json()) as { id?: string; status?: string; error?: { code: string } };
    return { kind: 'answer' as const, status: res.status, json, retry_after: res.headers.get('retry-after') };
  } catch (err) {
    const name = err instanceof Error ? err.name : '';
    return { kind: name === 'TimeoutError' || name === 'AbortError' ? ('timeout' as const) : ('refused' as const) };
  }
}

/** Starts the workers; `stop()` ends them and resolves with the report. */
export function startLoad(opts: LoadOptions): { report: LoadReport; stop: () => Promise<LoadReport> } {
  const report = newReport();
  let running = true;
  const worker = async (w: number) => {
    for (let i = 0; running; i++) {
      const urls = opts.urls();
      const url = urls[(w + i) % urls.length] ?? '';
      const body = {
        user_id: `${opts.tag}u${w}_${i}`,
        code: opts.code,
        confirm: i % 2 === 0,
        order: {
          id: `${opts.tag}o${w}_${i}`,
          merchant_id: `m${w % 5}`,
          amount_minor: 5000,
          currency: 'CNY',
          product_kind: 'merchandise',
        },
      };
      const r = await redeemOnce(url, opts.key, body, opts.timeout_ms);
      if (r.kind === 'timeout') report.timeouts++;
      if (r.kind !== 'answer') {
        report.connection_errors += r.kind === 'refused' ? 1 : 0;
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      const label = r.status === 201 ? '201' : `${r.status} ${r.json.error?.code ?? '?'}`;
      report.by_answer.set(label, (report.by_answer.get(label) ?? 0) + 1);
      if (r.status === 201 && r.json.id) {
        report.acknowledged.set(r.json.id, String(r.json.status));
        report.last_ok_ms = Date.now();
      }
      if ((r.status === 429 || r.status === 503) && r.retry_after === null) report.missing_retry_after++;
      if (r.status === 503) await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const workers = Array.from({ length: opts.workers }, (_, w) => worker(w));
  return {
    report,
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return report;
    },
  };
}

/** Resolves once `cond` holds, polling; rejects after `timeout_ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeout_ms: number, what: string): Promise<void> {
  const until = Date.now() + timeout_ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function summary(r: LoadReport): string {
  const answers = [...r.by_answer].map(([k, n]) => `${k}: ${n}`).join(', ');
  return `${r.acknowledged.size} acknowledged; ${answers}; timeouts ${r.timeouts}; connection errors ${r.connection_errors}`;
}
