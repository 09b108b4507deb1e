import type { RefModel } from './reference.ts';
import { type Expect, fail, type Idem, refusal } from './reference-types.ts';

export type IncidentAction = 'pause_campaigns' | 'freeze_redemptions' | 'revoke_unredeemed';

/**
 * Incidents on the model's campaign (API.md "Detection and incidents"): opening one pauses the
 * campaign, freezes its live redemptions in scope (reserved and confirmed become frozen: spent,
 * held for review) and revokes its unredeemed coupons (active or on hold), in that order, as
 * asked; resolving it
 * reverses (refunds) or honours (confirms) exactly the redemptions it froze that are still frozen.
 * Answers are recorded under an Idempotency-Key when produced; a refused resolve is not.
 */
export class RefIncidents {
  readonly incidents = new Map<string, { open: boolean; members: string[] }>();
  private next = 0;

  constructor(private readonly m: RefModel) {}

  open(merchant_ids: string[] | null, actions: IncidentAction[], idem: Idem | null): Expect {
    const m = this.m;
    return m.idempotent(idem, () => {
      let paused = 0;
      if (actions.includes('pause_campaigns') && m.status !== 'revoked') {
        m.status = 'paused';
        paused = 1;
      }
      const members: string[] = [];
      let frozen_minor = 0;
      if (actions.includes('freeze_redemptions')) {
        for (const r of m.redemptions.values()) {
          if (r.status !== 'reserved' && r.status !== 'confirmed') continue;
          if (merchant_ids !== null && !merchant_ids.includes(r.merchant_id)) continue;
          if (r.status === 'reserved') {
            m.reserved_minor -= r.discount_minor;
            m.spent_minor += r.discount_minor;
            const coupon = m.coupons.get(r.coupon);
            if (coupon?.single_use && coupon.status === 'reserved') coupon.status = 'redeemed';
          }
          r.status = 'frozen';
          r.hold_expires_at_ms = null;
          members.push(r.ref);
          frozen_minor += r.discount_minor;
        }
      }
      let revoked_coupons = 0;
      if (actions.includes('revoke_unredeemed')) {
        // Unredeemed: active, or on hold (the hold stays pending; released, it gives nothing back).
        for (const c of m.coupons.values()) {
          if (c.status !== 'active' && c.status !== 'reserved') continue;
          c.status = 'revoked';
          revoked_coupons++;
        }
      }
      const ref = `i${this.next++}`;
      this.incidents.set(ref, { open: true, members });
      const expect: Expect = {
        kind: 'incident',
        ref,
        frozen_count: members.length,
        frozen_minor,
        revoked_coupons,
        paused,
      };
      return { expect, record: true };
    });
  }

  resolve(ref: string, resolution: 'reverse' | 'honour', idem: Idem | null): Expect {
    const incident = this.incidents.get(ref);
    if (!incident) return fail(404, 'not_found');
    return this.m.idempotent(idem, () => {
      if (!incident.open) return { expect: refusal('invalid_state'), record: false };
      let count = 0;
      let discount_minor = 0;
      for (const id of incident.members) {
        const r = this.m.redemptions.get(id);
        if (r?.status !== 'frozen') continue;
        if (resolution === 'reverse') {
          this.m.spent_minor -= r.discount_minor;
          r.status = 'reversed';
        } else {
          r.status = 'confirmed';
        }
        count++;
        discount_minor += r.discount_minor;
      }
      incident.open = false;
      return { expect: { kind: 'resolved', count, discount_minor }, record: true };
    });
  }
}
