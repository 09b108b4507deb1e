import { randomBytes } from 'node:crypto';
import { limits } from '../config/limits.ts';
import { Rejection } from '../domain/errors.ts';
import { linkAudit } from '../engine/audit.ts';
import type { Engine } from '../engine/engine.ts';
import type { ListQuery, Page } from '../store/port.ts';
import type { DeliveryRecord, WebhookRecord } from '../store/port-events.ts';
import { checkWebhookUrl } from './ssrf.ts';

export interface WebhooksOptions {
  /** VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE: allow loopback and private addresses (development, tests). */
  allow_private: boolean;
  /** Called after this node creates or deletes a webhook (refreshes the subscribed types at once). */
  onChange?: () => Promise<void>;
}

/** `whsec_` and 192 bits from the CSPRNG, base64url. */
function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64url')}`;
}

function tooMany(): Rejection {
  return new Rejection('invalid_request', `at most ${limits.webhooks_max} webhooks; delete one first`);
}

function notFound(): Rejection {
  return new Rejection('not_found', 'no such webhook');
}

/** Webhook endpoints: created and deleted with a platform audit entry each; the secret is returned once. */
export class Webhooks {
  constructor(
    private readonly engine: Engine,
    private readonly opts: WebhooksOptions,
  ) {}

  get allow_private(): boolean {
    return this.opts.allow_private;
  }

  async create(input: { url: string; events: string[] }, actor: string | null): Promise<WebhookRecord> {
    const url = await checkWebhookUrl(input.url, this.opts.allow_private);
    const { store } = this.engine;
    // Checked again in the insert's transaction (webhooks created at once on other nodes).
    if ((await store.liveWebhooks()).length >= limits.webhooks_max) throw tooMany();
    const now_ms = this.engine.now();
    const w: WebhookRecord = {
      id: this.engine.ids.next('whk', now_ms),
      url: url.toString(),
      events: [...new Set(input.events)],
      secret: newSecret(),
      created_at_ms: now_ms,
      deleted_at_ms: null,
    };
    const inserted = await store.insertWebhook(w, (prev) =>
      linkAudit(
        {
          chain: 'platform',
          at_ms: now_ms,
          actor,
          action: 'webhook.created',
          subject: w.id,
          data: { url: w.url, events: w.events },
        },
        prev,
      ),
    );
    if (!inserted) throw tooMany();
    await this.changed();
    return w;
  }

  async delete(id: string, actor: string | null): Promise<WebhookRecord> {
    const w = await this.get(id);
    const now_ms = this.engine.now();
    const deleted = await this.engine.store.deleteWebhook(id, now_ms, (prev) =>
      linkAudit({ chain: 'platform', at_ms: now_ms, actor, action: 'webhook.deleted', subject: id, data: {} }, prev),
    );
    if (!deleted) throw notFound();
    await this.changed();
    return { ...w, deleted_at_ms: now_ms };
  }

  /** A live webhook, or 404. */
  async get(id: string): Promise<WebhookRecord> {
    const w = await this.engine.store.getWebhook(id);
    if (!w || w.deleted_at_ms !== null) throw notFound();
    return w;
  }

  list(q: ListQuery): Promise<Page<WebhookRecord>> {
    return this.engine.store.listWebhooks(q);
  }

  async deliveries(id: string, q: ListQuery): Promise<Page<DeliveryRecord>> {
    await this.get(id);
    return this.engine.store.listDeliveries(id, q);
  }

  private async changed(): Promise<void> {
    // The change is committed; a failed refresh is repaired by the next periodic one.
    await this.opts.onChange?.().catch(() => undefined);
  }
}
