import type { Campaign } from '../domain/campaign.ts';
import type { AuditEntry, IdempotencyRecord, ListQuery, OutboxEvent, Page } from './port.ts';

/** One pre-split packet of a red envelope; a grab fills in who took it and the coupon it became. */
export interface EnvelopePacket {
  campaign_id: string;
  idx: number;
  amount_minor: number;
  grabbed_by: string | null;
  coupon_id: string | null;
  grabbed_at_ms: number | null;
}

/** The envelope's index row: finds its campaign by envelope id, and the sweeper finds it when due. */
export interface RedEnvelopeRow {
  id: string;
  campaign_id: string;
  expires_at_ms: number;
  created_at_ms: number;
}

/** The envelope's index row as stored, with when the sweeper settled it (null: not yet), for `verify`. */
export interface StoredRedEnvelopeRow extends RedEnvelopeRow {
  settled_at_ms: number | null;
}

/** A packet beside the coupon it became, for `verify`. */
export interface PacketCheck extends EnvelopePacket {
  coupon_user_id: string | null;
  coupon_value_minor: number | null;
  coupon_status: string | null;
}

/** Red envelopes: the money is split once at creation; grabs pop packets inside the campaign's runBatch. */
export interface RedEnvelopeStore {
  /**
   * The backing campaign, its first audit entry, the envelope row, every packet and its events (an
   * outbox row; none when no one subscribes), in one transaction.
   */
  insertRedEnvelope(
    campaign: Campaign,
    audit: AuditEntry,
    envelope: RedEnvelopeRow,
    packets_minor: readonly number[],
    idempotency: IdempotencyRecord | null,
    events?: readonly OutboxEvent[],
  ): Promise<void>;
  /** The campaign that backs an envelope; it never changes, so callers may cache it. */
  redEnvelopeCampaignId(envelope_id: string): Promise<string | null>;
  /** Backing campaigns of envelopes, newest envelope first; `starting_after` is an envelope id. */
  listRedEnvelopes(q: ListQuery): Promise<Page<Campaign>>;
  /** Envelopes past expiry whose remainder is not yet refunded, oldest expiry first. */
  dueRedEnvelopes(now_ms: number, limit: number): Promise<Array<{ id: string; campaign_id: string }>>;
  /** The index row of a campaign's envelope, or null (verify). */
  redEnvelopeRow(campaign_id: string): Promise<StoredRedEnvelopeRow | null>;
  /** Every packet of a campaign's envelope, by idx, with its coupon (verify). */
  redEnvelopePackets(campaign_id: string): Promise<PacketCheck[]>;
}
