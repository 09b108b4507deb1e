import type { RedemptionStatus } from '../domain/redemption.ts';
import type { AuditEntry, Store } from '../store/port.ts';

/** An audit entry as stored, with its global seq. */
export type Stored = AuditEntry & { seq: number };

/** What a campaign's chain says about one redemption: its discount and status, and the entries that said so. */
export interface Recorded {
  discount_minor: number;
  /** The entry that first recorded it. */
  seq: number;
  /** Its status after the chain's last entry that moved it; null when an entry the chain cannot read moved it. */
  status: RedemptionStatus | null;
  /** The last entry that moved it. */
  last_seq: number;
  /** Set while the stored rows are compared: a recorded redemption no row answers was deleted. */
  stored: boolean;
}

export interface LedgerFault {
  seq: number;
  detail: string;
}

/** A JSON object (audit entry data is read from JSON text). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The status a redemption-level change leaves (batch entries: data.changes[].action). */
const changeStatus = new Map<string, RedemptionStatus>([
  ['redemption.reserved', 'reserved'],
  ['redemption.confirmed', 'confirmed'],
  ['redemption.released', 'released'],
  ['redemption.reversed', 'reversed'],
]);

/** The status an incident's bulk entry (data.redemption_ids) leaves each redemption it names. */
const bulkStatus = new Map<string, RedemptionStatus>([
  ['redemptions.released', 'released'],
  ['redemptions.frozen', 'frozen'],
  ['redemptions.reversed', 'reversed'],
  ['redemptions.honoured', 'confirmed'],
]);

function move(rec: Recorded | undefined, status: RedemptionStatus | null, seq: number): void {
  if (!rec) return;
  rec.status = status;
  rec.last_seq = seq;
}

/**
 * Every redemption a campaign's chain records, with its discount and where the chain leaves it.
 * Redemption-level changes ride in `batch` entries (data.changes, each naming its redemption);
 * an incident's freeze (frozen and released) and resolution entries name the redemptions they moved.
 */
export function recordedRedemptions(chain: readonly Stored[]): Map<string, Recorded> {
  const out = new Map<string, Recorded>();
  for (const e of chain) {
    const bulk = bulkStatus.get(e.action);
    if (e.action !== 'batch' && bulk === undefined) continue;
    const data: unknown = JSON.parse(e.data_json);
    if (bulk !== undefined) {
      const ids = isRecord(data) && Array.isArray(data.redemption_ids) ? data.redemption_ids : null;
      // An entry that does not list its ids (written before they were listed) leaves their status unknown.
      if (ids === null) for (const rec of out.values()) move(rec, null, e.seq);
      else for (const id of ids) if (typeof id === 'string') move(out.get(id), bulk, e.seq);
      continue;
    }
    const changes = isRecord(data) && Array.isArray(data.changes) ? data.changes : [];
    for (const ch of changes) {
      if (!isRecord(ch) || typeof ch.subject !== 'string' || !ch.subject.startsWith('rdm_')) continue;
      const status = typeof ch.action === 'string' ? (changeStatus.get(ch.action) ?? null) : null;
      const rec = out.get(ch.subject);
      if (rec) move(rec, status, e.seq);
      else if (typeof ch.discount_minor === 'number') {
        const d = ch.discount_minor;
        out.set(ch.subject, { discount_minor: d, seq: e.seq, status, last_seq: e.seq, stored: false });
      }
    }
  }
  return out;
}

/**
 * The chain is the ledger, both ways: every stored redemption must be one the campaign's chain
 * recorded, with the discount it recorded and the status its entries leave it in, and every
 * redemption the chain recorded must still be stored. An edited `discount_minor`, a status moved
 * (confirmed to reversed, say, with the campaign's counters edited to match, which would free
 * budget to spend again) or a deleted row shows here. The fault's seq is the entry the row
 * contradicts (or the chain's last entry, for a redemption it never saw).
 * Call only on a chain that verified, so its entries are what was written.
 */
export async function checkRedemptionLedger(
  store: Store,
  campaign_id: string,
  chain: readonly Stored[],
  recorded: Map<string, Recorded> = recordedRedemptions(chain),
): Promise<LedgerFault | null> {
  const tail_seq = chain[chain.length - 1]?.seq ?? 0;
  let fault: LedgerFault | null = null;
  const note = (f: LedgerFault) => {
    if (fault === null || f.seq < fault.seq) fault = f;
  };
  await store.forEachRedemption(campaign_id, (page) => {
    for (const r of page) {
      const rec = recorded.get(r.id);
      if (!rec) {
        note({ seq: tail_seq, detail: `redemption ${r.id} is not in the audit chain of ${campaign_id}` });
        continue;
      }
      rec.stored = true;
      if (rec.discount_minor !== r.discount_minor) {
        note({
          seq: rec.seq,
          detail: `redemption ${r.id} discount ${r.discount_minor} != audited ${rec.discount_minor}`,
        });
      } else if (rec.status !== null && rec.status !== r.status) {
        note({ seq: rec.last_seq, detail: `redemption ${r.id} is ${r.status}, audited ${rec.status}` });
      }
    }
  });
  for (const [id, rec] of recorded) {
    if (!rec.stored) note({ seq: rec.seq, detail: `redemption ${id} is audited but not stored` });
  }
  return fault;
}
