import { limits } from '../config/limits.ts';
import type { Clock } from '../engine/clock.ts';
import type { OutboxEvent, Store } from '../store/port.ts';
import type { DeliveryRecord, DeliveryStatus, WebhookRecord } from '../store/port-events.ts';
import { defaultRetryPolicy, natsRetryPolicy, type RetryPolicy, retryDelayMs } from './backoff.ts';
import { type PostResult, postWebhook } from './deliver.ts';
import { eventPayload, unpackOutbox } from './event-body.ts';
import { natsTarget } from './event-types.ts';
import type { NatsSink } from './nats.ts';
import { signatureHeader } from './signature.ts';

/** What the dispatcher logs through (pino fits). */
export interface EventLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface DispatcherOptions {
  store: Store;
  clock: Clock;
  allow_private: boolean;
  nats?: NatsSink | null;
  retry?: RetryPolicy;
  /** In [0, 1): the jitter source (tests pass a fixed one). */
  random?: () => number;
  timeout_ms?: number;
  lease_ms?: number;
  log?: EventLog;
}

export interface RoundResult {
  relayed: number;
  attempted: number;
}

/**
 * Moves events from the outbox to their receivers, at least once: a relay turns each
 * outbox row into one delivery per matching webhook (and one for NATS), then due
 * deliveries are claimed (one node gets each), attempted, and settled or rescheduled
 * with exponential backoff. A node that dies mid-attempt leaves a lease that runs out.
 *
 * Attempts run side by side, each settled on its own, and a slot that frees is filled with the
 * next due delivery: a receiver that answers slowly or not at all (an attempt waits up to its
 * timeout) holds at most `deliveries_per_webhook_max` slots, and the other webhooks' deliveries
 * and the NATS publishes go on past it (an alert is not queued behind a slow receiver's backlog).
 * The node's cap is the sum of every share, so this holds however many receivers hang at once.
 */
export class Dispatcher {
  private readonly retry: RetryPolicy;
  /**
   * NATS is the platform's own event bus, and its outage is logged as one whose events wait: its
   * deliveries back off as webhooks' do but are given up only once the event's retention has passed
   * (a webhook's after about two hours). Not every minute: a long outage's backlog would then be
   * attempted (and each attempt written) every minute, ahead of the webhooks' due deliveries.
   */
  private readonly natsRetry: RetryPolicy;
  private readonly random: () => number;
  /** Each target's lane on this node (webhook id, or the NATS target): attempts under way, and claimed ones waiting. */
  private readonly lanes = new Map<string, { running: number; waiting: DeliveryRecord[] }>();
  /** Claimed deliveries on this node, under way or waiting in their lane. */
  private held = 0;
  private readonly attempts = new Set<Promise<void>>();
  private running: Promise<void> | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  private last_prune_ms = 0;

  constructor(private readonly opts: DispatcherOptions) {
    this.retry = opts.retry ?? defaultRetryPolicy;
    this.natsRetry = natsRetryPolicy(this.retry);
    this.random = opts.random ?? Math.random;
  }

  start(): void {
    if (this.running) return;
    this.stopping = false;
    this.running = this.loop();
  }

  /** Stops claiming and waits for the attempts in flight (each bounded by its timeout). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.running;
    this.running = null;
  }

  /** Relays and fills free slots until neither finds work, then sleeps (a slot that frees wakes it). */
  private async loop(): Promise<void> {
    while (!this.stopping) {
      let busy = false;
      try {
        // Every round fills the free slots too: while traffic keeps the outbox from emptying, a round
        // that only relayed would leave every delivery waiting for the traffic to stop.
        const relayed = await this.relay();
        const claimed = await this.fill();
        busy = relayed > 0 || claimed > 0;
        await this.pruneNow();
      } catch (err) {
        this.opts.log?.warn(
          { err: { name: (err as Error).name, message: (err as Error).message } },
          'dispatcher round failed',
        );
      }
      if (!busy && !this.stopping) await this.sleep(limits.dispatcher_poll_ms);
    }
    await this.settled();
  }

  /** Until every delivery this node holds has been attempted (a lane's waiting ones start as its running ones end). */
  private async settled(): Promise<void> {
    while (this.attempts.size > 0) await Promise.all(this.attempts);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /**
   * One round, as tests drive it (start() runs them continuously): relay a page of the outbox, fill
   * the free slots with due deliveries, and wait for every attempt under way to settle.
   */
  async runOnce(): Promise<RoundResult> {
    const relayed = await this.relay();
    const attempted = await this.fill();
    await this.settled();
    return { relayed, attempted };
  }

  private relay(): Promise<number> {
    const now_ms = this.opts.clock.now();
    return this.opts.store.relayOutbox(
      limits.outbox_relay_rows_max,
      now_ms,
      (rows, hooks) => this.fanOut(rows, hooks, now_ms),
      limits.outbox_relay_events_max,
    );
  }

  /** A target's most attempts under way at once: a webhook's share, or NATS's (ours, and fast). */
  private static laneMax(target: string): number {
    return target === natsTarget ? limits.nats_in_flight_max : limits.deliveries_per_webhook_max;
  }

  /**
   * Claims due deliveries into the free slots and starts them, without waiting for them. A claim
   * skips the targets whose lanes are full and takes at most a webhook's share, so a lane that had
   * room for fewer keeps the rest waiting on this node (well within their lease: a lane's attempts
   * end within their timeout). Returns how many were claimed.
   */
  private async fill(): Promise<number> {
    const { store, clock } = this.opts;
    const lease_ms = this.opts.lease_ms ?? limits.webhook_lease_ms;
    let claimed = 0;
    while (!this.stopping) {
      const free = limits.deliveries_in_flight_max - this.held;
      if (free <= 0) break;
      const skip: string[] = [];
      for (const [target, lane] of this.lanes) {
        if (lane.running + lane.waiting.length >= Dispatcher.laneMax(target)) skip.push(target);
      }
      const want = Math.min(free, limits.deliveries_per_webhook_max);
      const due = await store.claimDeliveries(clock.now(), clock.now() + lease_ms, want, skip);
      for (const d of due) this.enqueue(d);
      claimed += due.length;
      if (due.length < want) break;
    }
    return claimed;
  }

  /** Starts a claimed delivery in its target's lane, or leaves it waiting there while the lane is full. */
  private enqueue(d: DeliveryRecord): void {
    const target = d.webhook_id;
    const lane = this.lanes.get(target) ?? { running: 0, waiting: [] };
    this.lanes.set(target, lane);
    this.held++;
    if (lane.running >= Dispatcher.laneMax(target)) lane.waiting.push(d);
    else this.launch(d, lane);
  }

  /** Runs one attempt; when it settles, its lane starts the next waiting one, or the loop is woken to claim more. */
  private launch(d: DeliveryRecord, lane: { running: number; waiting: DeliveryRecord[] }) {
    lane.running++;
    const run = this.attempt(d)
      .catch((err: unknown) => {
        // Settling failed (the store is down): the lease runs out and the delivery is attempted again.
        const e = err as Error;
        this.opts.log?.warn({ err: { name: e.name, message: e.message } }, 'delivery attempt failed');
      })
      .finally(() => {
        this.attempts.delete(run);
        lane.running--;
        this.held--;
        // Stopping, the waiting ones are left to their lease (another node, or this one restarted).
        if (this.stopping) this.held -= lane.waiting.splice(0).length;
        const next = lane.waiting.shift();
        if (next) this.launch(next, lane);
        else if (lane.running === 0) this.lanes.delete(d.webhook_id);
        this.wake?.();
      });
    this.attempts.add(run);
  }

  /** A new webhook gets the events from its creation on (like Stripe); earlier ones are not replayed to it. */
  private fanOut(rows: OutboxEvent[], hooks: WebhookRecord[], now_ms: number): DeliveryRecord[] {
    const out: DeliveryRecord[] = [];
    for (const evt of unpackOutbox(rows)) {
      const payload = eventPayload(evt);
      const make = (webhook_id: string): DeliveryRecord => ({
        event_id: evt.id,
        webhook_id,
        event_type: evt.type,
        payload,
        attempt: 0,
        status: 'pending',
        status_code: null,
        error: null,
        next_attempt_at_ms: now_ms,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
      });
      for (const h of hooks) {
        if (h.events.includes(evt.type) && h.created_at_ms <= evt.created_at_ms) out.push(make(h.id));
      }
      if (this.opts.nats) out.push(make(natsTarget));
    }
    return out;
  }

  private async attempt(d: DeliveryRecord): Promise<void> {
    let result: PostResult | 'cancel';
    if (d.webhook_id === natsTarget) {
      result = await this.publish(d);
    } else {
      // Read as the attempt starts (one that waited in its lane may start seconds after its claim):
      // a webhook deleted meanwhile, on any node, gets nothing more.
      const hook = await this.opts.store.getWebhook(d.webhook_id);
      result = !hook || hook.deleted_at_ms !== null ? 'cancel' : await this.post(d, hook);
    }
    await this.settle(d, result);
  }

  private publish(d: DeliveryRecord): Promise<PostResult | 'cancel'> {
    const nats = this.opts.nats;
    if (!nats) return Promise.resolve('cancel');
    return nats.publish(d.event_type, d.event_id, d.payload).then(
      () => ({ ok: true, status_code: null, error: null }),
      (err: unknown) => ({ ok: false, status_code: null, error: `NATS: ${(err as Error).message}`.slice(0, 500) }),
    );
  }

  private post(d: DeliveryRecord, hook: WebhookRecord): Promise<PostResult> {
    const t_s = Math.floor(this.opts.clock.now() / 1000);
    const headers = {
      'vouchsafe-signature': signatureHeader(hook.secret, d.payload, t_s),
      'vouchsafe-event-id': d.event_id,
    };
    return postWebhook(new URL(hook.url), d.payload, headers, {
      timeout_ms: this.opts.timeout_ms ?? limits.webhook_timeout_ms,
      allow_private: this.opts.allow_private,
    });
  }

  private async settle(d: DeliveryRecord, result: PostResult | 'cancel'): Promise<void> {
    const at_ms = this.opts.clock.now();
    const attempt = d.attempt + 1;
    let status: DeliveryStatus = 'cancelled';
    let next_attempt_at_ms: number | null = null;
    if (result !== 'cancel') {
      const policy = d.webhook_id === natsTarget ? this.natsRetry : this.retry;
      const delay_ms = result.ok ? null : retryDelayMs(attempt, policy, this.random());
      status = result.ok ? 'delivered' : delay_ms === null ? 'failed' : 'pending';
      next_attempt_at_ms = delay_ms === null ? null : at_ms + delay_ms;
    }
    await this.opts.store.recordAttempt({
      event_id: d.event_id,
      webhook_id: d.webhook_id,
      attempt,
      status,
      status_code: result === 'cancel' ? null : result.status_code,
      error: result === 'cancel' ? 'webhook deleted' : result.error,
      next_attempt_at_ms,
      at_ms,
    });
  }

  private async pruneNow(): Promise<void> {
    const now_ms = this.opts.clock.now();
    if (now_ms - this.last_prune_ms < limits.event_prune_interval_ms) return;
    this.last_prune_ms = now_ms;
    await this.opts.store.pruneEvents(now_ms - limits.event_retention_ms);
  }
}
