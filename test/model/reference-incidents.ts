import type { RefModel } from './reference.ts';
import { type Expect, fail, type Idem, refusal } from './reference-types.ts';

export type IncidentAction = 'pause_campaigns' | 'freeze_redemptions' | 'revoke_unredeemed';

/**
 * Incidents on the model's campaign (API.md "Detection and incidents"): opening one pauses the
 * campaign, freezes its confirmed redemptions in scope (spent, held for review) and releases its
 * holds in scope (DESIGN.md's state machine has no reserved -> frozen: a hold's order was never
 * confirmed, so it is given back like any release, its coupon active again), then revokes its
 * unredeemed coupons (active or on hold, the released holds' among them), in that order, as asked,
 * after which no reversal with restore_coupon makes a coupon that existed then active again;
 * resolving it reverses (refunds) or honours (confirms) exactly the redemptions it froze that are
 * still frozen. Answers are recorded under an Idempotency-Key when produced; a refused resolve is not.
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
      let released_holds_count = 0;
      let released_holds_minor = 0;
      if (actions.includes('freeze_redemptions')) {
        for (const r of m.redemptions.values()) {
          if (r.status !== 'reserved' && r.status !== 'confirmed') continue;
          if (merchant_ids !== null && !merchant_ids.includes(r.merchant_id)) continue;
          if (r.status === 'reserved') {
            m.releaseHold(r);
            released_holds_count++;
            released_holds_minor += r.discount_minor;
            continue;
          }
          r.status = 'frozen';
          members.push(r.ref);
          frozen_minor += r.discount_minor;
        }
      }
      let revoked_coupons = 0;
      if (actions.includes('revoke_unredeemed')) {
        // Unredeemed: active, or on hold (the hold stays pending; released, it gives nothing back).
        // Every coupon that exists now is covered: no reversal gives one back afterwards.
        for (const c of m.coupons.values()) {
          m.incidentCovered.add(c.ref);
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
        released_holds_count,
        released_holds_minor,
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
