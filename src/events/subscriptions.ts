import { limits } from '../config/limits.ts';
import type { Store } from '../store/port.ts';

/**
 * The event types some webhook (or NATS) wants, so that the engine writes no outbox rows
 * that nobody receives. Refreshed from the store every second and at once on this node's
 * own webhook changes; what another node made since, each batch reads in its transaction
 * (Engine.subscriptionsInBatch) and other writers ask the store for (Engine.wantsEventNow).
 */
export class Subscriptions {
  private types = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private reads_started = 0;
  private read_applied = 0;

  constructor(
    private readonly store: Store,
    /** With NATS every event is published, so every type is wanted. */
    private readonly all: boolean,
  ) {}

  /** For EngineOptions.wantsEvent / engine.wantsEvent. */
  readonly wants = (type: string): boolean => this.all || this.types.has(type);

  /**
   * Refreshes run concurrently (the timer's and a webhook change's); only the newest read that
   * has answered counts, so an older one answering late cannot drop a webhook just created.
   */
  async refresh(): Promise<void> {
    const read = ++this.reads_started;
    const hooks = await this.store.liveWebhooks();
    if (read < this.read_applied) return;
    this.read_applied = read;
    this.types = new Set(hooks.flatMap((h) => h.events));
  }

  /** Refreshes in the background; a failed read keeps the last known set. */
  start(onError: (err: unknown) => void = () => undefined): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh().catch(onError), limits.subscriptions_refresh_ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
