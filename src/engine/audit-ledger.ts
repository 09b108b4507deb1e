import type { AuditEntry, Store } from '../store/port.ts';

type Stored = AuditEntry & { seq: number };

/** What a campaign's chain says about one redemption: its discount, and the entry that first said so. */
export interface Recorded {
  discount_minor: number;
  seq: number;
}

export interface LedgerFault {
  seq: number;
  detail: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Redemption-level changes ride in `batch` entries (data.changes); each names its redemption and discount. */
export function recordedDiscounts(chain: readonly Stored[]): Map<string, Recorded> {
  const out = new Map<string, Recorded>();
  for (const e of chain) {
    if (e.action !== 'batch') continue;
    const data: unknown = JSON.parse(e.data_json);
    const changes = isRecord(data) && Array.isArray(data.changes) ? data.changes : [];
    for (const ch of changes) {
      if (!isRecord(ch) || typeof ch.subject !== 'string' || typeof ch.discount_minor !== 'number') continue;
      if (!ch.subject.startsWith('rdm_') || out.has(ch.subject)) continue;
      out.set(ch.subject, { discount_minor: ch.discount_minor, seq: e.seq });
    }
  }
  return out;
}

/**
 * The chain is the ledger: every stored redemption must be one the campaign's chain
 * recorded, with the discount it recorded. An edited `discount_minor` (even with the
 * campaign's counters edited to match) shows here; the fault's seq is the entry that
 * recorded the redemption (or the chain's last entry, for a redemption it never saw).
 * Call only on a chain that verified, so its entries are what was written.
 */
export async function checkRedemptionLedger(
  store: Store,
  campaign_id: string,
  chain: readonly Stored[],
  recorded: Map<string, Recorded> = recordedDiscounts(chain),
): Promise<LedgerFault | null> {
  const tail_seq = chain[chain.length - 1]?.seq ?? 0;
  let fault: LedgerFault | null = null;
  await store.forEachRedemption(campaign_id, (page) => {
    for (const r of page) {
      const rec = recorded.get(r.id);
      const f: LedgerFault | null = !rec
        ? { seq: tail_seq, detail: `redemption ${r.id} is not in the audit chain of ${campaign_id}` }
        : rec.discount_minor !== r.discount_minor
          ? { seq: rec.seq, detail: `redemption ${r.id} discount ${r.discount_minor} != audited ${rec.discount_minor}` }
          : null;
      if (f && (fault === null || f.seq < fault.seq)) fault = f;
    }
  });
  return fault;
}
