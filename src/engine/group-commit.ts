import { Rejection } from '../domain/errors.ts';

interface Pending<C, R> {
  cmd: C;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export interface GroupCommitLimits {
  /** Commands applied in one store transaction. */
  batch_commands_max: number;
  /** Commands waiting across all campaigns before new ones are shed with 503 overloaded. */
  queue_commands_max: number;
}

/**
 * Group commit: commands for one campaign queue up while that campaign's previous
 * batch is in flight, then the next batch takes them all (up to a bound) into one
 * store transaction. Each caller still gets its own answer. One batch per campaign
 * is in flight per process; across processes the store's row lock serializes them.
 */
export class GroupCommit<C, R> {
  private readonly queues = new Map<string, Pending<C, R>[]>();
  private readonly busy = new Set<string>();
  private queued = 0;
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly apply: (campaign_id: string, cmds: C[]) => Promise<R[]>,
    private readonly limits: GroupCommitLimits,
  ) {}

  submit(campaign_id: string, cmd: C): Promise<R> {
    if (this.queued >= this.limits.queue_commands_max) {
      return Promise.reject(new Rejection('overloaded', 'too many commands waiting; retry shortly', undefined, 1));
    }
    return new Promise<R>((resolve, reject) => {
      let queue = this.queues.get(campaign_id);
      if (!queue) {
        queue = [];
        this.queues.set(campaign_id, queue);
      }
      queue.push({ cmd, resolve, reject });
      this.queued++;
      if (!this.busy.has(campaign_id)) {
        this.busy.add(campaign_id);
        setImmediate(() => void this.drain(campaign_id));
      }
    });
  }

  /** Commands waiting plus batches in flight. */
  get pending(): number {
    return this.queued + this.inflight;
  }

  /** Resolves once every queued command has been answered. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(campaign_id: string): Promise<void> {
    for (;;) {
      const queue = this.queues.get(campaign_id);
      if (!queue || queue.length === 0) {
        this.queues.delete(campaign_id);
        this.busy.delete(campaign_id);
        this.notifyIdle();
        return;
      }
      const batch = queue.splice(0, this.limits.batch_commands_max);
      this.queued -= batch.length;
      this.inflight += batch.length;
      try {
        const results = await this.apply(
          campaign_id,
          batch.map((p) => p.cmd),
        );
        for (const [i, p] of batch.entries()) p.resolve(results[i] as R);
      } catch (err) {
        for (const p of batch) p.reject(err);
      } finally {
        this.inflight -= batch.length;
      }
    }
  }

  private notifyIdle(): void {
    if (this.pending !== 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
