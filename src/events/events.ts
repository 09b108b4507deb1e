import type { Clock } from '../engine/clock.ts';
import type { Engine } from '../engine/engine.ts';
import { Dispatcher, type DispatcherOptions, type EventLog } from './dispatcher.ts';
import type { EventType } from './event-types.ts';
import { NatsSink } from './nats.ts';
import { Subscriptions } from './subscriptions.ts';
import { Webhooks } from './webhooks.ts';

export interface EventsOptions {
  /** VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE=1 */
  allow_private: boolean;
  /** NATS_URL: also publish every event to JetStream. */
  nats_url?: string | undefined;
  log?: EventLog;
  /** Defaults to the engine's clock. */
  clock?: Clock;
  /** Retry policy, jitter source, timeouts (tests shorten them). */
  tuning?: Pick<DispatcherOptions, 'retry' | 'random' | 'timeout_ms' | 'lease_ms'>;
}

/**
 * The events layer of one node: the webhook service the routes use, the subscribed-types
 * cache behind engine.wantsEvent, and the dispatcher. start() after the store is open,
 * stop() before it closes.
 */
export class EventSystem {
  readonly webhooks: Webhooks;
  readonly subscriptions: Subscriptions;
  readonly dispatcher: Dispatcher;
  private readonly nats: NatsSink | null;
  private readonly log: EventLog | undefined;

  constructor(
    private readonly engine: Engine,
    opts: EventsOptions,
  ) {
    this.nats = opts.nats_url ? new NatsSink(opts.nats_url, opts.log) : null;
    this.subscriptions = new Subscriptions(engine.store, this.nats !== null);
    this.webhooks = new Webhooks(engine, {
      allow_private: opts.allow_private,
      onChange: () => this.subscriptions.refresh(),
    });
    this.dispatcher = new Dispatcher({
      store: engine.store,
      clock: opts.clock ?? engine.clock,
      allow_private: opts.allow_private,
      nats: this.nats,
      ...opts.tuning,
      ...(opts.log ? { log: opts.log } : {}),
    });
    this.log = opts.log;
  }

  /**
   * Loads the subscribed types and lets the engine write only those to the outbox; its batches also
   * read them from the store (webhooks another node made since), unless NATS wants every type anyway.
   */
  async wire(): Promise<void> {
    await this.subscriptions.refresh();
    this.engine.wantsEvent = this.subscriptions.wants;
    this.engine.subscriptionsInBatch = this.nats === null;
  }

  /** wire(), then keeps the types fresh and starts dispatching. */
  async start(): Promise<void> {
    await this.wire();
    this.subscriptions.start((err) => this.log?.warn({ err: String(err) }, 'refreshing webhook subscriptions failed'));
    this.dispatcher.start();
    this.nats?.connectSoon();
  }

  /**
   * An event of the node rather than of a campaign batch (the periodic audit digest): written to
   * the outbox when some webhook (or NATS) wants its type, then delivered like any other.
   */
  async publish(type: EventType, data: unknown): Promise<void> {
    const wanted =
      this.subscriptions.wants(type) || (this.engine.subscriptionsInBatch && (await this.engine.wantsEventNow(type)));
    if (!wanted) return;
    const created_at_ms = this.engine.now();
    const event = { id: this.engine.ids.next('evt', created_at_ms), type, created_at_ms, data };
    await this.engine.store.insertEvents([event]);
  }

  async stop(): Promise<void> {
    this.subscriptions.stop();
    await this.dispatcher.stop();
    await this.nats?.close();
  }
}
