import { type Campaign, zeroCounters } from '../../domain/campaign.ts';
import type { Coupon } from '../../domain/coupon.ts';
import type { Redemption } from '../../domain/redemption.ts';
import { genesisHash, linkAudit } from '../../engine/audit.ts';
import { IdGenerator, type IdPrefix } from '../../engine/ids.ts';
import type {
  AuditEntry,
  BatchLoad,
  BatchSnapshot,
  BatchWrites,
  IdempotencyRecord,
  OutboxEvent,
  Store,
} from '../port.ts';

export const t0_ms = Date.parse('2026-01-01T00:00:00Z');
export const day_ms = 24 * 60 * 60_000;

/** Opens a fresh, migrated, empty store. */
export type OpenStore = () => Promise<Store>;

/**
 * Valid rows for contract tests. Each call moves the fake clock by 1 ms, so ids are
 * strictly time-ordered and "newest first" is the reverse of creation order.
 */
export class Build {
  private readonly ids = new IdGenerator();
  now_ms = t0_ms;

  id(prefix: IdPrefix): string {
    this.now_ms += 1;
    return this.ids.next(prefix, this.now_ms);
  }

  /** An active shared-code campaign and its creation entry (the head of its audit chain). */
  campaign(over: Partial<Campaign> = {}): { campaign: Campaign; audit: AuditEntry } {
    const id = over.id ?? this.id('cmp');
    const campaign: Campaign = {
      name: `campaign ${id}`,
      currency: 'CNY',
      discount: { type: 'percent', percent_bp: 1500, max_discount_minor: 2000 },
      min_spend_minor: 5000,
      product_kinds: ['merchandise', 'virtual'],
      merchant_ids: ['m1', 'm2'],
      audience: { type: 'allowlist', user_ids: ['u1', 'u2'] },
      starts_at_ms: t0_ms,
      ends_at_ms: t0_ms + 30 * day_ms,
      coupon_ttl_s: 3600,
      budget_minor: 1_000_000,
      max_redemptions: null,
      per_user_limit: 3,
      per_merchant_limit: null,
      code_mode: 'claim',
      code: null,
      auto_pause: true,
      velocity: { per_user_per_minute: 5, per_ip_per_day: null },
      ...zeroCounters,
      id,
      status: 'active',
      status_reason: null,
      created_at_ms: this.now_ms,
      updated_at_ms: this.now_ms,
      created_by: 'key_maker',
      changed_by: 'key_maker',
      approved_by: 'key_checker',
      lint: [{ rule: 'example', severity: 'info', message: 'a finding survives the round trip' }],
      audit_seq: 0,
      audit_head: genesisHash,
      ...over,
    };
    const audit = this.audit(campaign, 'campaign.created', { name: campaign.name });
    return { campaign, audit };
  }

  /** Links an entry onto the campaign's chain and moves the campaign's head, as the engine does. */
  audit(campaign: Campaign, action: string, data: unknown): AuditEntry {
    const draft = { chain: campaign.id, at_ms: this.now_ms, actor: 'key_test', action, subject: campaign.id, data };
    const entry = linkAudit(draft, { seq: campaign.audit_seq, hash: campaign.audit_head });
    campaign.audit_seq = entry.chain_seq;
    campaign.audit_head = entry.hash;
    return entry;
  }

  coupon(campaign_id: string, over: Partial<Coupon> = {}): Coupon {
    const id = over.id ?? this.id('cpn');
    return {
      id,
      campaign_id,
      user_id: 'u1',
      code: `code-${id}`,
      kind: 'claimed',
      status: 'active',
      expires_at_ms: t0_ms + day_ms,
      value_minor: null,
      created_at_ms: this.now_ms,
      updated_at_ms: this.now_ms,
      ...over,
    };
  }

  redemption(coupon: Coupon, over: Partial<Redemption> = {}): Redemption {
    return {
      id: this.id('rdm'),
      campaign_id: coupon.campaign_id,
      coupon_id: coupon.id,
      user_id: 'u1',
      merchant_id: 'm1',
      order_id: `order-${this.now_ms}`,
      order_amount_minor: 10_000,
      currency: 'CNY',
      product_kind: 'merchandise',
      discount_minor: 1500,
      status: 'reserved',
      hold_expires_at_ms: this.now_ms + 15 * 60_000,
      device_id: 'dev-1',
      ip: '203.0.113.7',
      created_at_ms: this.now_ms,
      updated_at_ms: this.now_ms,
      ...over,
    };
  }

  idem(key: string, result: unknown = { ok: true, value: { n: 1 } }): IdempotencyRecord {
    return { key, fingerprint: `fp-${key}`, result, created_at_ms: this.now_ms };
  }
}

export function emptyLoad(over: Partial<BatchLoad> = {}): BatchLoad {
  return { coupon_ids: [], redemption_ids: [], usage_keys: [], idempotency_keys: [], ...over };
}

export function emptyWrites(campaign: Campaign): BatchWrites {
  return {
    campaign,
    coupons_insert: [],
    coupons_update: [],
    redemptions_insert: [],
    redemptions_update: [],
    usage_delta: new Map(),
    idempotency_insert: [],
    audit: [],
    outbox: [],
    bulk: [],
  };
}

/** Runs one batch whose writes `fill` sets from the snapshot; resolves to that snapshot. */
export function batch(
  store: Store,
  campaign_id: string,
  load: BatchLoad,
  fill: (snapshot: BatchSnapshot, writes: BatchWrites) => void,
): Promise<BatchSnapshot> {
  return store.runBatch(
    campaign_id,
    () => load,
    (snapshot) => {
      const writes = emptyWrites(structuredClone(snapshot.campaign));
      fill(snapshot, writes);
      return { writes, result: snapshot };
    },
  );
}

/** Inserts a campaign with its creation entry and optional coupons; returns the stored campaign. */
export async function seedCampaign(
  store: Store,
  b: Build,
  over: Partial<Campaign> = {},
  coupons: Coupon[] = [],
): Promise<Campaign> {
  const { campaign, audit } = b.campaign(over);
  await store.insertCampaign(
    campaign,
    audit,
    coupons.map((c) => ({ ...c, campaign_id: campaign.id })),
    null,
  );
  return campaign;
}

/** The events in outbox rows: an adapter may pack a batch's events into one row of type `batch`. */
export function unpackOutbox(rows: readonly OutboxEvent[]): OutboxEvent[] {
  return rows.flatMap((row) => (row.type === 'batch' && Array.isArray(row.data) ? (row.data as OutboxEvent[]) : [row]));
}

/** Entries as the port defines them: adapters may add their global `seq`. */
export function withoutSeq(list: ReadonlyArray<AuditEntry & { seq?: number }>): AuditEntry[] {
  return list.map(({ seq: _seq, ...entry }) => entry);
}
