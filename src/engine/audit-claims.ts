import type { Campaign } from '../domain/campaign.ts';
import type { Store } from '../store/port.ts';
import type { AuditedCampaign } from './audit-campaign.ts';
import { isRecord, type LedgerFault, type Stored } from './audit-ledger.ts';

/** What a campaign's chain says about one claimed coupon (a claim or a red-envelope grab). */
export interface RecordedClaim {
  user_id: string;
  /** As issued; null for an entry that did not record it. */
  expires_at_ms: number | null;
  /** The entry that recorded it, and its time (the coupon's creation: the same batch). */
  seq: number;
  at_ms: number;
}

/** Coupon ids looked up per store read. */
const ids_per_read = 1000;

/** The changes that issue a claimed coupon (batch entries: data.changes[], subject the coupon id). */
const issuing: ReadonlySet<string> = new Set(['coupon.claimed', 'red_envelope.grabbed']);

/** Every claimed coupon a campaign's chain issued, by coupon id. */
export function recordedClaims(chain: readonly Stored[]): Map<string, RecordedClaim> {
  const out = new Map<string, RecordedClaim>();
  for (const e of chain) {
    if (e.action !== 'batch') continue;
    const data: unknown = JSON.parse(e.data_json);
    const changes = isRecord(data) && Array.isArray(data.changes) ? data.changes : [];
    for (const ch of changes) {
      if (!isRecord(ch) || typeof ch.action !== 'string' || !issuing.has(ch.action)) continue;
      if (typeof ch.subject !== 'string' || typeof ch.user_id !== 'string') continue;
      const expires_at_ms = typeof ch.expires_at_ms === 'number' ? ch.expires_at_ms : null;
      out.set(ch.subject, { user_id: ch.user_id, expires_at_ms, seq: e.seq, at_ms: e.at_ms });
    }
  }
  return out;
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

/**
 * A claimed coupon's expiry now, from the one it was issued with and every later change of the
 * campaign's end, as the engine retimes coupons (update-handler.ts and the stores' retime): one
 * that expired at the old end, or would outlive the new one, takes the new end, or its ttl from
 * its creation if that comes first.
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
 * The claimed coupons are the ones the campaign's chain issued, each to the user it names and
 * expiring when the chain says: as many as claimed_count (which verify-coupons.ts holds to the
 * claimed rows, so no row stands beside them), each stored in this campaign as a claimed coupon of
 * that user, with that expiry. An unused coupon given to another user, or its expiry moved later,
 * shows here. Rows are read by id, a page at a time. Call only on a chain that verified.
 */
export async function checkClaimLedger(
  store: Store,
  c: Campaign,
  chain: readonly Stored[],
  audited: AuditedCampaign | null,
): Promise<LedgerFault | null> {
  const claims = recordedClaims(chain);
  const tail_seq = chain[chain.length - 1]?.seq ?? 0;
  if (claims.size !== c.claimed_count) {
    return {
      seq: tail_seq,
      detail: `campaign ${c.id} claimed_count ${c.claimed_count} != ${claims.size} claims in its chain`,
    };
  }
  let fault: LedgerFault | null = null;
  const note = (f: LedgerFault) => {
    if (fault === null || f.seq < fault.seq) fault = f;
  };
  const ids = [...claims.keys()];
  for (let i = 0; i < ids.length; i += ids_per_read) {
    const rows = new Map((await store.couponsById(ids.slice(i, i + ids_per_read))).map((r) => [r.id, r]));
    for (const id of ids.slice(i, i + ids_per_read)) {
      const claim = claims.get(id);
      if (!claim) continue;
      const row = rows.get(id);
      if (!row || row.campaign_id !== c.id || row.kind !== 'claimed') {
        note({
          seq: claim.seq,
          detail: `coupon ${id} claimed in the chain of ${c.id} is not stored as its claimed coupon`,
        });
      } else if (row.user_id !== claim.user_id) {
        note({
          seq: claim.seq,
          detail: `coupon ${id} belongs to ${row.user_id ?? 'no one'}, audited ${claim.user_id}`,
        });
      } else if (audited !== null && claim.expires_at_ms !== null) {
        const expires_at_ms = auditedExpiry(claim, claim.expires_at_ms, audited);
        if (row.expires_at_ms !== expires_at_ms) {
          const at = (ms: number) => new Date(ms).toISOString();
          note({
            seq: claim.seq,
            detail: `coupon ${id} expires ${at(row.expires_at_ms)}, audited ${at(expires_at_ms)}`,
          });
        }
      }
    }
  }
  return fault;
}
