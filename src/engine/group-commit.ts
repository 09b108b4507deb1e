import { asError, Rejection } from '../domain/errors.ts';

/**
 * Where a command may stand in its campaign's queue: `urgent` ones are never shed and go ahead of the
 * `overtakable` ones waiting at the queue's end (spending that the kill switch must stop); `fixed` ones
 * keep their place, and nothing overtakes them (a resume sent before a pause stays before it).
 */
export type Priority = 'urgent' | 'overtakable' | 'fixed';

interface Pending<C, R> {
  cmd: C;
  priority: Priority;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export interface GroupCommitLimits {
  /** Commands applied in one store transaction. */
  batch_commands_max: number;
  /** Commands waiting across all campaigns before new ones are shed with 503 overloaded. */
  queue_commands_max: number;
}

/** Applies one batch per campaign; each batch's result is one answer per command, or an error. */
export type ApplyMany<C, R> = (batches: Array<{ campaign_id: string; cmds: C[] }>) => Promise<Array<R[] | Error>>;

/**
 * Group commit: commands for one campaign queue up while that campaign's previous
 * batch is in flight, then the next batch takes them all (up to a bound) into one
 * store transaction. Each caller still gets its own answer. One batch per campaign
 * is in flight per process; across processes the store's row lock serializes them.
 * Batches of different campaigns that are ready at the same moment are handed to the
 * store together (`applyMany`), so an embedded store can commit them with one fsync.
 */
export class GroupCommit<C, R> {
  private readonly queues = new Map<string, Pending<C, R>[]>();
  private readonly busy = new Set<string>();
  private scheduled = false;
  private queued = 0;
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly applyMany: ApplyMany<C, R>,
    private readonly limits: GroupCommitLimits,
    /** See Priority: the kill switch must work, and work first, when the queue is full. */
    private readonly priorityOf: (cmd: C) => Priority = () => 'fixed',
  ) {}

  submit(campaign_id: string, cmd: C): Promise<R> {
    const priority = this.priorityOf(cmd);
    if (priority !== 'urgent' && this.queued >= this.limits.queue_commands_max) {
      return Promise.reject(new Rejection('overloaded', 'too many commands waiting; retry shortly', undefined, 1));
    }
    return new Promise<R>((resolve, reject) => {
      let queue = this.queues.get(campaign_id);
      if (!queue) {
        queue = [];
        this.queues.set(campaign_id, queue);
      }
      const pending = { cmd, priority, resolve, reject };
      let at = queue.length;
      if (priority === 'urgent') while (at > 0 && queue[at - 1]?.priority === 'overtakable') at--;
      queue.splice(at, 0, pending);
      this.queued++;
      this.schedule();
    });
  }

  /** Commands waiting plus commands in flight. */
  get pending(): number {
    return this.queued + this.inflight;
  }

  /** Resolves once every queued command has been answered. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** Takes one batch from every campaign that has commands and no batch in flight. */
  private async flush(): Promise<void> {
    const taken: Array<{ campaign_id: string; batch: Pending<C, R>[] }> = [];
    for (const [campaign_id, queue] of this.queues) {
      if (this.busy.has(campaign_id)) continue;
      const batch = queue.splice(0, this.limits.batch_commands_max);
      if (queue.length === 0) this.queues.delete(campaign_id);
      this.busy.add(campaign_id);
      this.queued -= batch.length;
      this.inflight += batch.length;
      taken.push({ campaign_id, batch });
    }
    if (taken.length === 0) return;
    let results: Array<R[] | Error>;
    try {
      results = await this.applyMany(
        taken.map((t) => ({ campaign_id: t.campaign_id, cmds: t.batch.map((p) => p.cmd) })),
      );
    } catch (err) {
      results = taken.map(() => asError(err));
    }
    for (const [i, t] of taken.entries()) {
      const r = results[i];
      if (r === undefined || r instanceof Error) for (const p of t.batch) p.reject(r ?? new Error('batch lost'));
      else for (const [j, p] of t.batch.entries()) p.resolve(r[j] as R);
      this.busy.delete(t.campaign_id);
      this.inflight -= t.batch.length;
    }
    if (this.queues.size > 0) this.schedule();
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.pending !== 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
