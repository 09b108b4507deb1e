import { limits } from '../config/limits.ts';
import type { Campaign, CodeMode } from '../domain/campaign.ts';
import type { CouponKind, CouponStatus } from '../domain/coupon.ts';
import { allRows } from '../store/all-rows.ts';
import type { Store } from '../store/port.ts';
import type { CouponClass, RedemptionFit } from '../store/port-coupon-checks.ts';
import type { CampaignLedger } from './audit-log.ts';
import { idFloor, idTimeMs } from './ids.ts';

type Fail = (invariant: string, detail: string) => void;

/** The label of every violation below: coupon rows against their campaign and their redemptions. */
const coupon_invariant = 'coupon';

/** Each code mode issues one kind of coupon: claims and grabs a claimed one (owned), codes unique ones, a shared code one shared. */
const kindOf: Record<CodeMode, CouponKind> = {
  claim: 'claimed',
  red_envelope: 'claimed',
  unique_codes: 'unique',
  shared_code: 'shared',
};

/** `expired` is derived from expires_at (couponStatusAt), never stored. */
const stored: readonly string[] = ['active', 'reserved', 'redeemed', 'revoked'] satisfies CouponStatus[];

/**
 * Holds a campaign's coupon rows to the campaign and to their redemptions, as the engine moves them
 * (redeem-handlers.ts, incident-handlers.ts, campaign-handlers.ts), a class of alike coupons at a
 * time (store.couponClasses), so memory does not grow with the campaign:
 * - each coupon is of the kind its campaign's code mode issues, names an owner exactly when claimed,
 *   has a value of its own exactly in a red envelope, and expires no later than the campaign ends
 *   (claims and grabs cap their ttl at the end, codes take the end, a change of the end retimes them);
 * - claimed_count is the number of claimed coupons (claims and grabs each add one); the unique
 *   codes are as many as the chain's codes.generated entries issued; a shared-code campaign has its
 *   one shared code (each claimed coupon is held to its own claim in audit-claims.ts);
 * - a single-use coupon's status fits its redemptions. `active`: none live (a hold released or
 *   expired, a reversal with restore_coupon give it back only when its one live redemption ends).
 *   `reserved`: exactly one hold and nothing confirmed or frozen (a hold confirmed makes it
 *   `redeemed`, released makes it `active`). `redeemed`: no hold, and one confirmed or frozen
 *   redemption or, once that is reversed without restore_coupon (or by an incident), a reversed one.
 *   `revoked` allows any one live redemption: an incident revokes coupons on hold, whose holds may
 *   still be confirmed, frozen, released or expire; invariant 4 bounds it to one.
 * - a shared code is only ever `active` or `revoked`: its many redemptions never move it;
 * - every redemption names a coupon of its own campaign, of its own user when the coupon has an
 *   owner, and discounts no more than the coupon's own value (red envelopes);
 * - no coupon of a revoked campaign is `active` or `reserved`: revoking it releases every hold and
 *   revokes every coupon not redeemed in one batch, it takes no claim after that, and a reversal
 *   with restore_coupon leaves the coupon revoked (restoredCouponStatus);
 * - no coupon up to the campaign's revoke_through_id is `active` or `reserved`: an incident's
 *   revocation raises the bound before it reads a coupon, then revokes every such one, and after
 *   that a release or a reversal leaves them revoked. Not judged while an incident that may still
 *   be revoking (`opening`, see revokingCampaigns) covers the campaign, nor for coupons stamped
 *   within limits.verify_revoke_clock_skew_ms of the bound (a lagging node's new coupons).
 */
export async function verifyCoupons(
  store: Store,
  c: Campaign,
  fail: Fail,
  revoking: ReadonlySet<string>,
  /** What the campaign's chain says (audit-log.ts); null where it did not verify. */
  ledger: CampaignLedger | null,
): Promise<number> {
  const report = (detail: string) => fail(coupon_invariant, detail);
  let coupons = 0;
  let claimed = 0;
  let unique = 0;
  let shared = 0;
  const usable = { coupons: 0, first_id: '' };
  for (const k of await store.couponClasses(c.id, c.ends_at_ms)) {
    coupons += k.coupons;
    if (k.kind === 'claimed') claimed += k.coupons;
    if (k.kind === 'unique') unique += k.coupons;
    if (k.kind === 'shared') shared += k.coupons;
    for (const why of misfits(c, k)) report(`${nameOf(k.coupons, 'coupon', k.example_id)} ${why}`);
    if (c.status === 'revoked' && (k.status === 'active' || k.status === 'reserved')) {
      usable.coupons += k.coupons;
      usable.first_id ||= k.example_id;
    }
  }
  if (claimed !== c.claimed_count) report(`claimed_count ${c.claimed_count} != ${claimed} claimed coupons`);
  // Each unique code comes from a codes.generated entry (their count), a shared code campaign has its one code.
  if (ledger !== null && unique !== ledger.codes_generated) {
    report(`${unique} unique codes stored, ${ledger.codes_generated} generated in the audit chain`);
  }
  if (c.code_mode === 'shared_code' && shared !== 1)
    report(`${shared} shared codes stored; a shared-code campaign has one`);
  if (usable.coupons > 0) {
    const verb = usable.coupons === 1 ? 'is' : 'are';
    report(`${nameOf(usable.coupons, 'coupon', usable.first_id)} ${verb} active or reserved in a revoked campaign`);
  }
  for (const f of await store.redemptionFits(c.id)) {
    for (const why of fitFailures(f)) report(`${nameOf(f.redemptions, 'redemption', f.example_id)} ${why}`);
  }
  if (c.revoke_through_id !== undefined && !revoking.has(c.id)) {
    // Coupons stamped within the allowed clock skew of the bound are left out (limits.ts).
    const through = idFloor('cpn', idTimeMs(c.revoke_through_id) - limits.verify_revoke_clock_skew_ms);
    const left = await store.unredeemedThrough(c.id, through);
    if (left.coupons > 0) {
      const named = nameOf(left.coupons, 'coupon', left.first_id ?? '?');
      const verb = left.coupons === 1 ? 'is' : 'are';
      report(
        `${named} ${verb} active or reserved although an incident revoked the campaign's coupons up to ${c.revoke_through_id}`,
      );
    }
  }
  return coupons;
}

/**
 * The campaigns of incidents still `opening` with revoke_unredeemed: their revocation may be under
 * way (the bound raised, coupons not all revoked yet), so verify does not hold them to the bound.
 * Read once per verify, a page of incidents at a time; only these campaign ids are kept.
 */
export async function revokingCampaigns(store: Store): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const i of allRows((q) => store.listIncidents(q))) {
    if (i.status !== 'opening' || !i.actions.includes('revoke_unredeemed')) continue;
    for (const id of i.campaign_ids) out.add(id);
  }
  return out;
}

function nameOf(n: number, what: string, example_id: string): string {
  return n === 1 ? `${what} ${example_id}` : `${n} ${what}s (first ${example_id})`;
}

/** What is wrong with a class of coupons, if anything. */
function misfits(c: Campaign, k: CouponClass): string[] {
  const out: string[] = [];
  const kind = kindOf[c.code_mode];
  if (k.kind !== kind) out.push(`is a ${k.kind} coupon in a ${c.code_mode} campaign, which issues ${kind} ones`);
  if (k.owned !== (k.kind === 'claimed')) {
    out.push(
      k.owned ? `is a ${k.kind} (bearer) coupon that names an owner` : 'is a claimed coupon that names no owner',
    );
  }
  const valued = c.code_mode === 'red_envelope';
  if (k.valued !== valued) {
    out.push(
      valued ? 'is a red-envelope coupon without a value of its own' : 'has a value of its own outside a red envelope',
    );
  }
  if (k.past_end) out.push(`expires after its campaign ends (${new Date(c.ends_at_ms).toISOString()})`);
  if (!stored.includes(k.status)) {
    out.push(`has status '${k.status}', which no coupon is stored with`);
    return out;
  }
  const why = k.kind === 'shared' ? sharedMisfit(k) : singleUseMisfit(k);
  if (why) out.push(why);
  return out;
}

function uses(k: CouponClass): string {
  const n = (x: number) => (x >= 2 ? '2+' : String(x));
  return `${n(k.held)} reserved, ${n(k.spent)} confirmed or frozen and ${n(k.reversed)} reversed redemptions`;
}

function sharedMisfit(k: CouponClass): string | null {
  if (k.status === 'active' || k.status === 'revoked') return null;
  return `is a shared code in status ${k.status}; a shared code is only ever active or revoked`;
}

function singleUseMisfit(k: CouponClass): string | null {
  const live = k.held + k.spent;
  switch (k.status) {
    case 'active':
      return live === 0 ? null : `is active with ${uses(k)}; a coupon with a live redemption is not active`;
    case 'reserved':
      return k.held === 1 && k.spent === 0 ? null : `is reserved with ${uses(k)}; it needs exactly its one hold`;
    case 'redeemed':
      if (k.held === 0 && (k.spent > 0 || k.reversed > 0)) return null;
      return `is redeemed with ${uses(k)}; it needs a confirmed, frozen or reversed redemption and no hold`;
    default:
      return null;
  }
}

function fitFailures(f: RedemptionFit): string[] {
  const out: string[] = [];
  if (f.no_coupon) out.push('names no coupon of its campaign');
  if (f.not_owner) out.push("was made by a user other than its coupon's owner");
  if (f.over_value) out.push("discounts more than its coupon's own value");
  return out;
}
