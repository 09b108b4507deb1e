import type { Campaign } from '../domain/campaign.ts';
import type { LiveMax } from '../domain/campaign-change.ts';
import type { Coupon } from '../domain/coupon.ts';
import { assert } from '../domain/errors.ts';
import type { KeyOrigin } from '../domain/key-lineage.ts';
import type { Redemption } from '../domain/redemption.ts';
import type { BatchSnapshot, BatchWrites, IdempotencyRecord, UsageKey } from '../store/port.ts';
import type { IncidentFence } from '../store/port-incidents.ts';
import type { EnvelopePacket } from '../store/port-red-envelopes.ts';
import { type AuditDraft, linkAudit } from './audit.ts';
import type { IdGenerator, IdPrefix } from './ids.ts';

/** What a batch may use beyond its snapshot: time, ids, codes. */
export interface BatchEnv {
  now_ms: number;
  ids: IdGenerator;
  /** A bearer code (unique codes). */
  newCode: () => string;
  /** A code issued to one user (claims, grabs): time-prefixed, see issuedCodePrefix. */
  newIssuedCode: () => string;
  hold_ms: number;
  /** Whether any subscriber (webhook, NATS) wants events of this type; unwanted ones are not written. */
  wantsEvent: (type: string) => boolean;
}

/**
 * The working copy of one batch: handlers read and change it in command order,
 * and it turns into one set of writes at the end.
 */
export class BatchContext {
  readonly campaign: Campaign;
  private readonly coupons: Map<string, Coupon>;
  private readonly redemptions: Map<string, Redemption>;
  private readonly usage: Map<UsageKey, number>;
  private readonly idem: Map<string, IdempotencyRecord>;
  private readonly dirtyCoupons = new Set<string>();
  private readonly newCoupons: Coupon[] = [];
  private readonly newCouponIds = new Set<string>();
  private readonly newRedemptionIds = new Set<string>();
  private readonly dirtyRedemptions = new Set<string>();
  readonly writes: BatchWrites;
  private changes: Array<{ actor: string | null; action: string; subject: string }> = [];
  /** Redemptions confirmed in this batch, for the detector once committed. */
  readonly confirmed: Redemption[] = [];
  /** Red-envelope packets the batch loaded, by idx: grabs pop them in order. */
  readonly packets: Map<number, EnvelopePacket>;
  /** Most live redemptions of one user / merchant, when the batch loaded them (a campaign change). */
  readonly live_max: LiveMax | undefined;
  private readonly incidents: Map<string, IncidentFence>;
  private readonly pausing: string[] | undefined;
  private readonly key_origins: ReadonlyMap<string, KeyOrigin> | undefined;

  constructor(
    snapshot: BatchSnapshot,
    readonly env: BatchEnv,
  ) {
    this.campaign = { ...snapshot.campaign };
    this.coupons = snapshot.coupons;
    this.redemptions = snapshot.redemptions;
    this.usage = snapshot.usage;
    this.idem = snapshot.idempotency;
    this.packets = snapshot.packets ?? new Map();
    this.live_max = snapshot.live_max;
    this.incidents = snapshot.incidents ?? new Map();
    this.pausing = snapshot.pausing_incidents;
    this.key_origins = snapshot.key_origins;
    this.writes = {
      campaign: this.campaign,
      coupons_insert: this.newCoupons,
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

  /** True when the batch changed anything that must be written. */
  get changed(): boolean {
    return this.writes.audit.length > 0 || this.changes.length > 0 || this.writes.idempotency_insert.length > 0;
  }

  get now_ms(): number {
    return this.env.now_ms;
  }

  id(prefix: IdPrefix): string {
    return this.env.ids.next(prefix, this.env.now_ms);
  }

  coupon(id: string): Coupon | undefined {
    return this.coupons.get(id);
  }

  redemption(id: string): Redemption | undefined {
    return this.redemptions.get(id);
  }

  /** An incident the batch loaded for its bulk work (undefined if not loaded or not found). */
  incidentFence(id: string): IncidentFence | undefined {
    return this.incidents.get(id);
  }

  /** The unresolved incidents that pause this campaign, oldest first, as read under its lock (see BatchLoad). */
  pausingIncidents(): readonly string[] {
    assert(this.pausing !== undefined, 'pausing incidents read but not loaded');
    return this.pausing;
  }

  /** Every API key's origin, as read in this batch's transaction (see BatchLoad.key_origins). */
  keyOrigins(): ReadonlyMap<string, KeyOrigin> {
    assert(this.key_origins !== undefined, 'key origins read but not loaded');
    return this.key_origins;
  }

  reservedRedemptions(): Redemption[] {
    return [...this.redemptions.values()].filter((r) => r.status === 'reserved');
  }

  usageOf(key: UsageKey): number {
    const known = this.usage.get(key);
    assert(known !== undefined, `usage ${key} read but not loaded`);
    return known;
  }

  /** Usage is written as deltas; a key the batch did not load (a release) needs no current value. */
  addUsage(key: UsageKey, delta: number): void {
    const known = this.usage.get(key);
    if (known !== undefined) {
      assert(known + delta >= 0, `usage ${key} below zero`);
      this.usage.set(key, known + delta);
    }
    this.writes.usage_delta.set(key, (this.writes.usage_delta.get(key) ?? 0) + delta);
  }

  insertCoupon(c: Coupon): void {
    this.coupons.set(c.id, c);
    this.newCoupons.push(c);
    this.newCouponIds.add(c.id);
  }

  setCouponStatus(c: Coupon, status: Coupon['status']): void {
    c.status = status;
    c.updated_at_ms = this.now_ms;
    if (!this.newCouponIds.has(c.id)) this.dirtyCoupons.add(c.id);
  }

  insertRedemption(r: Redemption): void {
    this.redemptions.set(r.id, r);
    this.newRedemptionIds.add(r.id);
  }

  /** Changes a redemption; rows inserted in this batch are simply written in their final state. */
  updateRedemption(r: Redemption, changes: Partial<Pick<Redemption, 'status' | 'hold_expires_at_ms'>>): void {
    Object.assign(r, changes, { updated_at_ms: this.now_ms });
    if (!this.newRedemptionIds.has(r.id)) this.dirtyRedemptions.add(r.id);
  }

  idempotency(key: string): IdempotencyRecord | undefined {
    return this.idem.get(key);
  }

  recordIdempotency(rec: IdempotencyRecord): void {
    this.idem.set(rec.key, rec);
    this.writes.idempotency_insert.push(rec);
  }

  /** Appends one entry to the campaign's chain (after the changes recorded so far). */
  audit(actor: string | null, action: string, subject: string, data: unknown): void {
    this.flushChanges();
    this.appendAudit(actor, action, subject, data);
  }

  /**
   * Records one redemption-level change. A batch's changes go into one chain entry
   * (`batch`), so the audit costs one hash per transaction, not one per redemption,
   * and every change is still covered by the chain.
   */
  change(actor: string | null, action: string, subject: string, data: Record<string, unknown>): void {
    this.changes.push({ actor, action, subject, ...data });
  }

  private flushChanges(): void {
    if (this.changes.length === 0) return;
    const changes = this.changes;
    this.changes = [];
    const actors = new Set(changes.map((c) => c.actor));
    const actor = actors.size === 1 ? (changes[0]?.actor ?? null) : null;
    this.appendAudit(actor, 'batch', this.campaign.id, { changes });
  }

  private appendAudit(actor: string | null, action: string, subject: string, data: unknown): void {
    const draft: AuditDraft = { chain: this.campaign.id, at_ms: this.now_ms, actor, action, subject, data };
    const entry = linkAudit(draft, { seq: this.campaign.audit_seq, hash: this.campaign.audit_head });
    this.campaign.audit_seq = entry.chain_seq;
    this.campaign.audit_head = entry.hash;
    this.writes.audit.push(entry);
  }

  /**
   * Marks a change of the campaign itself (its settings or status): updated_at moves on, by a
   * millisecond if the clock has not, so each version has its own updated_at and an approval
   * can name the one it reviewed (expected_updated_at).
   */
  touchCampaign(): void {
    this.campaign.updated_at_ms = Math.max(this.campaign.updated_at_ms + 1, this.now_ms);
  }

  event(type: string, data: unknown): void {
    if (!this.env.wantsEvent(type)) return;
    this.writes.outbox.push({ id: this.id('evt'), type, created_at_ms: this.now_ms, data });
  }

  /** The writes, with every changed row listed once in its final state. */
  finish(): BatchWrites {
    this.flushChanges();
    // Only a batch that changed something moves updated_at: refusals recorded for an
    // Idempotency-Key change nothing, and must not make an approver's view look stale.
    if (this.writes.audit.length > 0) {
      this.campaign.updated_at_ms = Math.max(this.campaign.updated_at_ms, this.now_ms);
    }
    for (const id of this.dirtyCoupons) {
      const c = this.coupons.get(id);
      if (c) this.writes.coupons_update.push(c);
    }
    for (const id of this.newRedemptionIds) {
      const r = this.redemptions.get(id);
      if (r) this.writes.redemptions_insert.push(r);
    }
    for (const id of this.dirtyRedemptions) {
      const r = this.redemptions.get(id);
      if (r) this.writes.redemptions_update.push(r);
    }
    return this.writes;
  }
}
