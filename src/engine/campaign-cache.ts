import { limits } from '../config/limits.ts';
import type { Campaign } from '../domain/campaign.ts';
import type { Store } from '../store/port.ts';
import type { Clock } from './clock.ts';
import { SingleFlight } from './single-flight.ts';

/**
 * Campaigns as this node last committed or read them, trusted for limits.campaign_settings_ttl_ms.
 * Only what advises or guards in front of the batch queue reads them here: a validation's answer
 * and the velocity settings. Nothing that moves money decides from it: a redemption's batch
 * reads the locked row, and refuses to decide under velocity settings other than its own.
 *
 * This node's own commits replace an entry at once (Engine.onCommit), so with one node (the
 * embedded store) nothing here is stale; another node's changes show within the TTL. A newer
 * campaign is never replaced by an older one: every committed change moves the campaign's audit
 * chain on, so `audit_seq` orders them (a store read that started before a commit may finish
 * after it).
 *
 * What it holds is frozen, nested fields too: the committed campaign it is given is shared with
 * the handlers' answers (shallow copies) and the other commit listeners, and a later change
 * through any of them would otherwise change what validations answer.
 */
export class CampaignCache {
  private readonly entries = new Map<string, { campaign: Campaign; fetched_at_ms: number }>();
  /** Store reads in flight, by campaign id. */
  private readonly reading = new SingleFlight<Campaign | null>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** The cached campaign while fresh; undefined: not cached, or older than the TTL. */
  fresh(id: string): Campaign | undefined {
    const hit = this.entries.get(id);
    if (hit === undefined || this.clock.now() - hit.fetched_at_ms >= limits.campaign_settings_ttl_ms) return undefined;
    return hit.campaign;
  }

  /**
   * The fresh cached campaign, or the store's (then cached); null: no such campaign. Requests that
   * miss together share one read: a campaign with a large allowlist is megabytes to read and parse.
   */
  async get(id: string): Promise<Campaign | null> {
    const hit = this.fresh(id);
    if (hit !== undefined) return hit;
    return this.reading.run(id, async () => {
      const c = await this.store.getCampaign(id);
      if (c) this.note(c);
      return c;
    });
  }

  /** Forgets the campaign (another node changed it): the next get reads the store. */
  forget(id: string): void {
    this.entries.delete(id);
  }

  /** A campaign as this node committed or read it. */
  note(c: Campaign): void {
    const held = this.entries.get(c.id);
    if (held && held.campaign.audit_seq > c.audit_seq) return;
    if (!held && this.entries.size >= limits.campaign_settings_cached_max) this.entries.clear();
    this.entries.set(c.id, { campaign: deepFreeze(c), fetched_at_ms: this.clock.now() });
  }
}

function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}
