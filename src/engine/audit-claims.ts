import type { Campaign } from '../domain/campaign.ts';
import type { Store } from '../store/port.ts';
import type { CouponFacts } from '../store/port-coupon-checks.ts';
import type { AuditedCampaign } from './audit-campaign.ts';
import { earlier, isRecord, type LedgerFault, type Stored, withCouponRows } from './audit-ledger.ts';

/** What a campaign's chain says about one claimed coupon (a claim or a red-envelope grab). */
export interface RecordedClaim {
  coupon_id: string;
  user_id: string;
  /** As issued; null for an entry that did not record it. */
  expires_at_ms: number | null;
  /** A grab's packet amount (the coupon's own value); null for a claim, whose coupon has none. */
  value_minor: number | null;
  /** The entry that recorded it, and its time (the coupon's creation: the same batch). */
  seq: number;
  at_ms: number;
}

/** The changes that issue a claimed coupon (batch entries: data.changes[], subject the coupon id). */
const issuing: ReadonlySet<string> = new Set(['coupon.claimed', 'red_envelope.grabbed']);

/** Every claimed coupon a campaign's chain issued, in chain order, one entry's data parsed at a time. */
export function* recordedClaims(chain: readonly Stored[]): Generator<RecordedClaim> {
  for (const e of chain) {
    if (e.action !== 'batch') continue;
    const data: unknown = JSON.parse(e.data_json);
    const changes = isRecord(data) && Array.isArray(data.changes) ? data.changes : [];
    for (const ch of changes) {
      if (!isRecord(ch) || typeof ch.action !== 'string' || !issuing.has(ch.action)) continue;
      if (typeof ch.subject !== 'string' || typeof ch.user_id !== 'string') continue;
      const grab = ch.action === 'red_envelope.grabbed';
      yield {
        coupon_id: ch.subject,
        user_id: ch.user_id,
        expires_at_ms: typeof ch.expires_at_ms === 'number' ? ch.expires_at_ms : null,
        value_minor: grab && typeof ch.amount_minor === 'number' ? ch.amount_minor : null,
        seq: e.seq,
        at_ms: e.at_ms,
      };
    }
  }
}

/** How many unique codes a campaign's chain generated (its `codes.generated` entries). */
export function generatedCodes(chain: readonly Stored[]): number {
  let n = 0;
  for (const e of chain) {
    if (e.action !== 'codes.generated') continue;
    const data: unknown = JSON.parse(e.data_json);
    if (isRecord(data) && typeof data.count === 'number') n += data.count;
  }
  return n;
}

/** The digest of an envelope's packets its creation entry recorded (audit.ts packetsDigest); null if none. */
export function recordedPackets(chain: readonly Stored[]): string | null {
  const first = chain[0];
  if (first?.action !== 'red_envelope.created') return null;
  const data: unknown = JSON.parse(first.data_json);
  return isRecord(data) && typeof data.packets_sha256 === 'string' ? data.packets_sha256 : null;
}

/** What a red envelope's chain says of it: its creation entry's terms and time, and its expiry entry. */
export interface AuditedEnvelope {
  id: string;
  total_minor: number;
  count: number;
  min_amount_minor: number;
  expires_at_ms: number;
  created_at_ms: number;
  /** The creation entry's seq. */
  seq: number;
  /** The `red_envelope.expired` entry (the refund at settlement), or null while the chain has none. */
  expired: { at_ms: number; refunded_minor: number; seq: number } | null;
}

/**
 * A red envelope as its chain records it: the terms its creation entry (the chain's first) was made
 * with, and its settlement; null for a chain that does not begin with one, or whose terms are not numbers.
 */
export function auditedEnvelope(chain: readonly Stored[]): AuditedEnvelope | null {
  const first = chain[0];
  if (first?.action !== 'red_envelope.created') return null;
  const data: unknown = JSON.parse(first.data_json);
  const t = isRecord(data) && isRecord(data.terms) ? data.terms : null;
  const fields = ['total_minor', 'count', 'min_amount_minor', 'expires_at_ms'] as const;
  if (t === null || !fields.every((f) => typeof t[f] === 'number')) return null;
  const num = (f: (typeof fields)[number]) => t[f] as number;
  let expired: AuditedEnvelope['expired'] = null;
  for (const e of chain) {
    if (e.action !== 'red_envelope.expired' || expired !== null) continue;
    const d: unknown = JSON.parse(e.data_json);
    const refunded_minor = isRecord(d) && typeof d.refunded_minor === 'number' ? d.refunded_minor : Number.NaN;
    expired = { at_ms: e.at_ms, refunded_minor, seq: e.seq };
  }
  return {
    id: first.subject,
    total_minor: num('total_minor'),
    count: num('count'),
    min_amount_minor: num('min_amount_minor'),
    expires_at_ms: num('expires_at_ms'),
    created_at_ms: first.at_ms,
    seq: first.seq,
    expired,
  };
}

/**
 * A claimed coupon's expiry now, from the one it was issued with and every later change of the
 * campaign's end, as the engine retimes coupons (update-handler.ts and the stores' retime): one
 * that expired at the old end, or would outlive the new one, takes the new end, or its ttl from
 * its creation if that comes first. Comparing entry seqs orders claims and end changes right only
 * because a campaign update runs alone in its batch (Engine.updateCampaign); should updates ever
 * share a batch with claims, this replay must follow the batch's own order.
 */
export function auditedExpiry(claim: RecordedClaim, issued_ms: number, a: AuditedCampaign): number {
  let expires = issued_ms;
  for (let i = 1; i < a.versions.length; i++) {
    const prev = a.versions[i - 1]?.spec;
    const v = a.versions[i];
    if (!prev || !v || v.seq <= claim.seq || v.spec.ends_at_ms === prev.ends_at_ms) continue;
    const ends = v.spec.ends_at_ms;
    if (expires > ends || expires === prev.ends_at_ms) {
      const ttl_s = v.spec.coupon_ttl_s;
      expires = ttl_s === null ? ends : Math.min(claim.at_ms + ttl_s * 1000, ends);
    }
  }
  return expires;
}

/**
 * The claimed coupons are the ones the campaign's chain issued, each to the user it names, worth
 * what it says (a grab's packet; a claim's coupon has no value of its own) and expiring when the
 * chain says: as many as claimed_count (which verify-coupons.ts holds to the claimed rows, so no
 * row stands beside them), each stored in this campaign as a claimed coupon. An unused coupon given
 * to another user, its value raised or its expiry moved later shows here. The claims stream from
 * the chain and are held to their rows a thousand at a time, so no map of them is kept. Call only
 * on a chain that verified.
 */
export async function checkClaimLedger(
  store: Store,
  c: Campaign,
  chain: readonly Stored[],
  audited: AuditedCampaign | null,
  /** When given, counts each user's claims into it (verify holds the claim counters to them). */
  by_user?: Map<string, number>,
): Promise<LedgerFault | null> {
  let fault: LedgerFault | null = null;
  const note = (f: LedgerFault) => {
    fault = earlier(fault, f);
  };
  let claims = 0;
  await withCouponRows(
    store,
    recordedClaims(chain),
    (claim) => claim.coupon_id,
    (page, rows) => {
      claims += page.length;
      for (const claim of page) {
        by_user?.set(claim.user_id, (by_user.get(claim.user_id) ?? 0) + 1);
        const why = claimMisfit(claim, rows.get(claim.coupon_id), c, audited);
        if (why) note({ seq: claim.seq, detail: `coupon ${claim.coupon_id} ${why}` });
      }
    },
  );
  if (claims !== c.claimed_count) {
    const tail_seq = chain[chain.length - 1]?.seq ?? 0;
    note({
      seq: tail_seq,
      detail: `campaign ${c.id} claimed_count ${c.claimed_count} != ${claims} claims in its chain`,
    });
  }
  return fault;
}

/** What is wrong with a claimed coupon's row against its claim, if anything. */
function claimMisfit(
  claim: RecordedClaim,
  row: CouponFacts | undefined,
  c: Campaign,
  audited: AuditedCampaign | null,
): string | null {
  if (!row || row.campaign_id !== c.id || row.kind !== 'claimed') {
    return `claimed in the chain of ${c.id} is not stored as its claimed coupon`;
  }
  if (row.user_id !== claim.user_id) return `belongs to ${row.user_id ?? 'no one'}, audited ${claim.user_id}`;
  if (row.value_minor !== claim.value_minor) return `is worth ${row.value_minor}, audited ${claim.value_minor}`;
  if (audited === null || claim.expires_at_ms === null) return null;
  const expires_at_ms = auditedExpiry(claim, claim.expires_at_ms, audited);
  if (row.expires_at_ms === expires_at_ms) return null;
  const at = (ms: number) => new Date(ms).toISOString();
  return `expires ${at(row.expires_at_ms)}, audited ${at(expires_at_ms)}`;
}
