import {
  availableMinor,
  type Campaign,
  type CampaignSpec,
  type CampaignStatus,
  liveRedemptions,
} from '../domain/campaign.ts';
import { discountMinor } from '../domain/discount/discount.ts';
import { hasProductKind } from '../domain/product-kinds.ts';
import type { Redemption, RedemptionStatus } from '../domain/redemption.ts';
import { allRows } from '../store/all-rows.ts';
import type { Store, UsageKey } from '../store/port.ts';
import type { ChainCheck } from './audit.ts';
import { specAt } from './audit-campaign.ts';
import type { AuditDigest } from './audit-digest.ts';
import { type CampaignLedger, platform_chain, verifyAuditLog } from './audit-log.ts';
import { orderKey } from './redeem-handlers.ts';
import { revokingCampaigns, verifyCoupons } from './verify-coupons.ts';
import { verifyRedEnvelope } from './verify-red-envelopes.ts';

export interface Violation {
  campaign_id: string | null;
  invariant: string;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  campaigns: number;
  coupons: number;
  redemptions: number;
  violations: Violation[];
  audit: ChainCheck & { chains: number; bad_chain: string | null };
}

const live: readonly RedemptionStatus[] = ['reserved', 'confirmed', 'frozen'];

/** Checks every DESIGN.md invariant, and the coupon rows (verify-coupons.ts), against what is stored; reads only. */
export async function verifyStore(
  store: Store,
  onProgress?: (done: number, total: number) => void,
  opts: {
    /** The time to judge overdue work by (an expired envelope not yet refunded); none: not judged. */
    now_ms?: number;
    /** Chain heads recorded earlier (audit-digest.ts, checked sound): every chain must still hold its link. */
    digest?: AuditDigest;
  } = {},
): Promise<VerifyReport> {
  const violations: Violation[] = [];
  const ids = await store.campaignIds();
  // An incident row that cannot be read is reported (the platform chain's check names it too), not a
  // crash: the campaigns are still checked, with no incident taken as still revoking.
  const revoking = await revokingCampaigns(store).catch((err: unknown) => {
    violations.push({ campaign_id: null, invariant: 'unreadable', detail: `the incidents cannot be read: ${err}` });
    return new Set<string>();
  });
  let coupons = 0;
  let redemptions = 0;
  let done = 0;
  // One walk: each campaign is checked right after its chain, with what the chain says.
  const audit = await verifyAudit(store, ids, violations, opts.digest, async (c, ledger) => {
    const fail = (invariant: string, detail: string) => violations.push({ campaign_id: c.id, invariant, detail });
    try {
      redemptions += await verifyCampaign(store, c, ledger, violations);
      coupons += await verifyCoupons(store, c, fail, revoking, ledger);
      await verifyRedEnvelope(
        store,
        c,
        fail,
        opts.now_ms ?? null,
        ledger?.packets_sha256 ?? null,
        ledger?.envelope ?? null,
      );
    } catch (err) {
      // A row edited into a shape the checks cannot read (a null audience, say) is reported; the
      // other campaigns are still checked.
      fail('unreadable', `campaign ${c.id} cannot be checked: ${String(err)}`);
    }
    onProgress?.(++done, ids.length);
  });
  await checkStatusColumns(store, ids, violations);
  return { ok: violations.length === 0, campaigns: ids.length, coupons, redemptions, violations, audit };
}

const statuses: readonly CampaignStatus[] = ['draft', 'pending_approval', 'active', 'paused', 'ended', 'revoked'];

/**
 * A campaign's status column says what its row (the document its chain is held to) says: the kill
 * switch (emergency-stop.ts) and the end sweep find campaigns by that column, so an active campaign
 * whose column alone says ended would be passed by while it redeems. Lists each status a page at a
 * time; a campaign listed under none has a column that is no status.
 */
async function checkStatusColumns(store: Store, ids: readonly string[], out: Violation[]): Promise<void> {
  const listed = new Set<string>();
  try {
    for (const status of statuses) {
      for await (const c of allRows((q) => store.listCampaigns({ ...q, status }))) {
        listed.add(c.id);
        if (c.status === status) continue;
        const detail = `campaign ${c.id} has status ${status} in its status column, ${c.status} in its row`;
        out.push({ campaign_id: c.id, invariant: '7', detail });
      }
    }
  } catch (err) {
    // A row that cannot be read is reported by the chain check too; the columns are not judged then.
    out.push({ campaign_id: null, invariant: 'unreadable', detail: `the campaigns cannot be listed: ${err}` });
    return;
  }
  for (const id of ids) {
    if (listed.has(id)) continue;
    out.push({ campaign_id: id, invariant: '7', detail: `campaign ${id} has a status column that is no status` });
  }
}

async function verifyCampaign(
  store: Store,
  c: Campaign,
  ledger: CampaignLedger | null,
  out: Violation[],
): Promise<number> {
  const fail = (invariant: string, detail: string) => out.push({ campaign_id: c.id, invariant, detail });
  const available = availableMinor(c);
  if (c.reserved_minor < 0 || c.spent_minor < 0 || available < 0) fail('1', 'a budget part is negative');
  if (c.reserved_minor + c.spent_minor + available !== c.budget_minor)
    fail('1', 'reserved + spent + available != budget');
  const totals = await store.redemptionTotals(c.id);
  const sum = (...ss: RedemptionStatus[]) => ss.reduce((a, s) => a + (totals.get(s)?.discount_minor ?? 0), 0);
  const count = (s: RedemptionStatus) => totals.get(s)?.count ?? 0;
  if (c.spent_minor !== sum('confirmed', 'frozen'))
    fail('2', `spent ${c.spent_minor} != confirmed+frozen ${sum('confirmed', 'frozen')}`);
  if (c.reserved_minor !== sum('reserved')) fail('2', `reserved ${c.reserved_minor} != held ${sum('reserved')}`);
  if (c.frozen_minor !== sum('frozen')) fail('2', `frozen ${c.frozen_minor} != frozen rows ${sum('frozen')}`);
  if (c.reversed_minor !== sum('reversed')) {
    fail('2', `reversed ${c.reversed_minor} != reversed rows ${sum('reversed')}`);
  }
  for (const s of ['reserved', 'confirmed', 'frozen', 'released', 'reversed'] as const) {
    if (c[`${s}_count`] !== count(s)) fail('2', `${s}_count ${c[`${s}_count`]} != rows ${count(s)}`);
  }
  const liveRows = live.reduce((a, s) => a + count(s), 0);
  if (c.max_redemptions !== null && liveRows > c.max_redemptions)
    fail('3', `${liveRows} live > max ${c.max_redemptions}`);
  if (liveRedemptions(c) !== liveRows) fail('3', 'live count differs from rows');
  const perUser = new Map<string, number>();
  const perMerchant = new Map<string, number>();
  const perOrder = new Map<string, number>();
  let n = 0;
  await store.forEachRedemption(c.id, (page) => {
    for (const r of page) {
      n++;
      // A hold expires after its creation (redeem-handlers.ts reserve: creation + the hold time). The
      // sweeper releases only holds whose expiry has passed and confirm refuses only those, so a hold
      // with none would keep its budget for good and could be confirmed at any time, the campaign's
      // end included.
      if (r.status === 'reserved' && (r.hold_expires_at_ms === null || r.hold_expires_at_ms <= r.created_at_ms)) {
        fail('2', `${r.id} is reserved with hold expiry ${r.hold_expires_at_ms ?? 'none'}, not after its creation`);
      }
      if (!live.includes(r.status)) continue;
      perUser.set(r.user_id, (perUser.get(r.user_id) ?? 0) + 1);
      perMerchant.set(r.merchant_id, (perMerchant.get(r.merchant_id) ?? 0) + 1);
      const order = orderKey({ id: r.order_id, merchant_id: r.merchant_id });
      perOrder.set(order, (perOrder.get(order) ?? 0) + 1);
      checkRedemptionRules(rulesWhenMade(c, ledger, r), r, fail);
    }
  });
  checkLimit(c.per_user_limit, perUser, 'per_user_limit', fail);
  checkLimit(c.per_merchant_limit, perMerchant, 'per_merchant_limit', fail);
  const usage = await store.usageCounts(c.id);
  // Counters are kept only for limits that are set; where kept they must match the rows.
  if (c.per_user_limit !== null) {
    for (const [user, k] of perUser)
      if ((usage.get(`user:${user}`) ?? 0) !== k) fail('3', `usage counter of user ${user} is off`);
  }
  if (c.per_merchant_limit !== null) {
    for (const [m, k] of perMerchant)
      if ((usage.get(`merchant:${m}`) ?? 0) !== k) fail('3', `usage counter of merchant ${m} is off`);
  }
  // A claim campaign with a per-user limit counts each user's claims (redeem-handlers.ts claim); a
  // counter lowered or deleted would let that user claim past the limit. Held to the chain's claims.
  const claims = ledger?.claims_by_user;
  if (claims) {
    for (const [user, k] of claims)
      if ((usage.get(`claim:${user}`) ?? 0) !== k) fail('3', `claim counter of user ${user} is off`);
    for (const [key, k] of usage) {
      if (key.startsWith('claim:') && k !== 0 && !claims.has(key.slice('claim:'.length)))
        fail('3', `claim counter of ${key} is off`);
    }
  }
  // One discount per order: at most one live redemption per order, and its counter says so.
  for (const [order, k] of perOrder) {
    if (k > 1) fail('3', `order ${order} has ${k} live redemptions`);
    if (usage.get(order as UsageKey) !== k) fail('3', `usage counter of ${order} is off`);
  }
  // A counter of a user, merchant or order with no live redemption is 0: below it (a user's set to
  // -5, say), that user, merchant or order could take more than its limit allows.
  for (const [key, k] of usage) {
    if (k === 0) continue;
    const off =
      (key.startsWith('order:') && !perOrder.has(key)) ||
      (c.per_user_limit !== null && key.startsWith('user:') && !perUser.has(key.slice('user:'.length))) ||
      (c.per_merchant_limit !== null && key.startsWith('merchant:') && !perMerchant.has(key.slice('merchant:'.length)));
    if (off) fail('3', `usage counter of ${key} is off`);
  }
  for (const coupon of await store.doubleRedeemedCoupons(c.id))
    fail('4', `coupon ${coupon} has more than one live redemption`);
  return n;
}

function checkLimit(
  limit: number | null,
  counts: Map<string, number>,
  what: string,
  fail: (i: string, d: string) => void,
) {
  if (limit === null) return;
  for (const [who, k] of counts) if (k > limit) fail('3', `${what}: ${who} has ${k} > ${limit}`);
}

/**
 * The rules a redemption was made under: the settings its chain says were in force at the entry
 * that recorded it (a campaign may tighten its rules later: min spend raised, a product kind
 * dropped), or the stored ones where the chain cannot say (it did not verify, or never recorded
 * the redemption, which the ledger reports).
 */
function rulesWhenMade(c: Campaign, ledger: CampaignLedger | null, r: Redemption): CampaignSpec {
  const seq = ledger?.recorded.get(r.id)?.seq;
  return ledger?.audited && seq !== undefined ? specAt(ledger.audited, seq) : c;
}

/** Invariant 5: each live redemption was within the rules of its campaign when made. */
function checkRedemptionRules(c: CampaignSpec, r: Redemption, fail: (i: string, d: string) => void): void {
  if (r.created_at_ms < c.starts_at_ms || r.created_at_ms >= c.ends_at_ms) fail('5', `${r.id} outside the window`);
  if (c.audience.type === 'allowlist' && !c.audience.user_ids.includes(r.user_id))
    fail('5', `${r.id} user outside audience`);
  if (r.order_amount_minor < c.min_spend_minor) fail('5', `${r.id} below min spend`);
  if (!hasProductKind(c.product_kinds, r.product_kind)) fail('5', `${r.id} product kind not eligible`);
  if (c.merchant_ids !== null && !c.merchant_ids.includes(r.merchant_id)) fail('5', `${r.id} merchant not eligible`);
  if (r.discount_minor <= 0 || r.discount_minor > r.order_amount_minor) fail('5', `${r.id} discount out of bounds`);
  if (r.currency !== c.currency) fail('5', `${r.id} is in ${r.currency}, its campaign in ${c.currency}`);
  // The discount is the rule's for the order (eligibility.ts couponDiscountMinor); a red envelope's
  // coupons carry their own value, which verify-coupons.ts bounds. Only more than the rule is a
  // finding: a discount above it is money the campaign never promised, whoever computed it.
  if (c.code_mode !== 'red_envelope' && r.discount_minor <= r.order_amount_minor) {
    const rule = discountMinor(c.discount, r.order_amount_minor);
    if (r.discount_minor > rule) fail('5', `${r.id} discount ${r.discount_minor} > ${rule} its rule gives the order`);
  }
}

/** Invariant 7 (audit-log.ts): every chain verifies, is in order, ends at its anchor and holds the digest's link; seqs are global. */
async function verifyAudit(
  store: Store,
  campaignIds: string[],
  out: Violation[],
  digest: AuditDigest | undefined,
  onCampaign: (c: Campaign, ledger: CampaignLedger | null) => Promise<void>,
): Promise<VerifyReport['audit']> {
  const check = await verifyAuditLog(store, campaignIds, onCampaign, digest);
  if (!check.ok) {
    const chain = check.bad_chain;
    out.push({
      campaign_id: chain === null || chain === platform_chain ? null : chain,
      invariant: '7',
      detail: `${check.detail ?? 'audit log broken'} (seq ${check.first_bad_seq})`,
    });
  }
  return {
    ok: check.ok,
    entries: check.entries,
    first_bad_seq: check.first_bad_seq,
    chains: check.chains,
    bad_chain: check.bad_chain,
  };
}
