import { setTimeout as sleep } from 'node:timers/promises';
import type { Store } from '../store/port.ts';

/** A pending idempotency record: whose request it is, and how often it has been renewed. */
export type Claim = { pending: string; beat: number };

export function isClaim(result: unknown): result is Claim {
  return typeof result === 'object' && result !== null && typeof (result as Claim).pending === 'string';
}

const retry_first_ms = 25;
const retry_max_ms = 5_000;
/** After a renewal that failed (the store unreachable), the next is tried this soon. */
const renew_retry_ms = 1_000;

/** A sleep that does not keep the process alive (background retries end with it). */
const pause = (ms: number) => sleep(ms, undefined, { ref: false });

/**
 * The claim of a request this node is answering: renewed while the work runs, then replaced by the
 * answer (or released when the work failed). Every write to it is a compare-and-swap against the
 * claim as this node last stored it, one at a time, so a renewal, the answer and another node's
 * takeover never interleave. A swap whose outcome is unknown (the store failed to answer) is
 * settled by reading the record back: still this request's claim, a newer beat of it is adopted.
 */
export class HeldClaim {
  private current: Claim;
  private chain: Promise<unknown> = Promise.resolve();
  /** Another request holds the key now (this node was taken for dead): nothing more is written. */
  private lost = false;
  private renewing = true;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Pick<Store, 'swapIdempotency' | 'getIdempotency'>,
    private readonly key: string,
    claim: Claim,
    private readonly now: () => number,
    private readonly renew_every_ms: number,
  ) {
    this.current = claim;
    this.schedule(renew_every_ms);
  }

  /**
   * Replaces the claim with `result` (null: deletes it), retrying with backoff for up to
   * `give_up_ms` while the store fails, and renewing the claim meanwhile so no other node takes it
   * over. True once written; false if the claim was lost or the time ran out (it then goes stale):
   * a write that hangs (a connection gone silent) is given up at the deadline too.
   */
  async settle(result: unknown, give_up_ms: number): Promise<boolean> {
    const deadline_ms = performance.now() + give_up_ms;
    try {
      for (let wait_ms = retry_first_ms; ; wait_ms = Math.min(wait_ms * 2, retry_max_ms)) {
        const left_ms = deadline_ms - performance.now();
        const done = await Promise.race([
          this.serial(() => this.write(result)),
          pause(Math.max(0, left_ms)).then(() => false),
        ]);
        if (done || this.lost || performance.now() >= deadline_ms) return done;
        await pause(Math.min(wait_ms, Math.max(0, deadline_ms - performance.now())));
      }
    } finally {
      this.abandon();
    }
  }

  /** Stops renewing: the claim stays as it is and goes stale (another node's retry then runs). */
  abandon(): void {
    this.renewing = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** The next renewal: at the usual interval, or within a second after one that failed. */
  private schedule(in_ms: number): void {
    if (!this.renewing) return;
    this.timer = setTimeout(() => {
      this.serial(() => this.renew())
        .catch(() => false)
        .then((ok) => this.schedule(ok ? this.renew_every_ms : Math.min(renew_retry_ms, this.renew_every_ms)));
    }, in_ms);
    this.timer.unref();
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.chain.then(op);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async renew(): Promise<boolean> {
    if (!this.renewing) return true;
    const next: Claim = { pending: this.current.pending, beat: this.current.beat + 1 };
    if (!(await this.write(next))) return this.lost;
    this.current = next;
    return true;
  }

  /** One compare-and-swap from the current claim to `next` (a claim, an answer, or null). */
  private async write(next: unknown): Promise<boolean> {
    if (this.lost) return false;
    try {
      const to = next === null ? null : { result: next, created_at_ms: this.now() };
      if (await this.store.swapIdempotency(this.key, this.current, to)) return true;
    } catch {
      // The outcome is unknown: the record says what happened.
    }
    try {
      const rec = await this.store.getIdempotency(this.key);
      if (next === null ? rec === null : rec !== null && JSON.stringify(rec.result) === JSON.stringify(next)) {
        return true; // it was written after all
      }
      if (rec !== null && isClaim(rec.result) && rec.result.pending === this.current.pending) {
        this.current = rec.result; // still ours, at the beat a write that seemed to fail stored
      } else {
        this.lost = true;
      }
    } catch {
      // The store is down: the caller tries again.
    }
    return false;
  }
}
