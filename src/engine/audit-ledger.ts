import type { Redemption, RedemptionStatus } from '../domain/redemption.ts';
import type { AuditEntry, Store } from '../store/port.ts';
import type { CouponFacts } from '../store/port-coupon-checks.ts';

/** An audit entry as stored, with its global seq. */
export type Stored = AuditEntry & { seq: number };

/** What a campaign's chain says about one redemption: its discount and status, and the entries that said so. */
export interface Recorded {
  discount_minor: number;
  /** The entry that first recorded it, and its time (the redemption's creation: the same batch). */
  seq: number;
  at_ms: number;
  /**
   * What that entry says it was made of (madeOf): its coupon, user, merchant, order and product
   * kind; null for an entry that did not record them all.
   */
  made: string | null;
  /** Reversed in a way that leaves its coupon used: without restore_coupon, or by an incident. */
  keeps_coupon: boolean;
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

/** The earlier of two faults (the lower global seq; the first on a tie): verify reports the first bad entry. */
export function earlier<F extends LedgerFault>(a: F | null, b: F | null): F | null {
  if (a === null || b === null) return a ?? b;
  return b.seq < a.seq ? b : a;
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

function move(rec: Recorded | undefined, status: RedemptionStatus | null, seq: number, keeps_coupon = false): void {
  if (!rec) return;
  rec.status = status;
  rec.last_seq = seq;
  rec.keeps_coupon = keeps_coupon;
}

/** The fields of a redemption its making entry records, in this order (redeem-handlers.ts auditData). */
const made_fields = ['coupon_id', 'user_id', 'merchant_id', 'order_id', 'product_kind'] as const;

/** A redemption's identity as one string (one per redemption held in memory, not five). */
function madeOf(r: Record<string, unknown>): string | null {
  const values = made_fields.map((f) => r[f]);
  return values.every((v) => typeof v === 'string') ? values.join('\n') : null;
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
      else for (const id of ids) if (typeof id === 'string') move(out.get(id), bulk, e.seq, bulk === 'reversed');
      continue;
    }
    const changes = isRecord(data) && Array.isArray(data.changes) ? data.changes : [];
    for (const ch of changes) {
      if (!isRecord(ch) || typeof ch.subject !== 'string' || !ch.subject.startsWith('rdm_')) continue;
      const status = typeof ch.action === 'string' ? (changeStatus.get(ch.action) ?? null) : null;
      const rec = out.get(ch.subject);
      if (rec) move(rec, status, e.seq, status === 'reversed' && ch.restore_coupon === false);
      else if (typeof ch.discount_minor === 'number') {
        const d = ch.discount_minor;
        const made = madeOf(ch);
        out.set(ch.subject, {
          discount_minor: d,
          seq: e.seq,
          at_ms: e.at_ms,
          made,
          keeps_coupon: false,
          status,
          last_seq: e.seq,
          stored: false,
        });
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
    fault = earlier(fault, f);
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
      } else {
        const why = madeMisfit(r, rec);
        if (why) note({ seq: rec.seq, detail: `redemption ${r.id} ${why}` });
      }
    }
  });
  for (const [id, rec] of recorded) {
    if (!rec.stored) note({ seq: rec.seq, detail: `redemption ${id} is audited but not stored` });
  }
  return fault;
}

/**
 * A stored redemption against the entry that made it: the same coupon, user, merchant, order and
 * product kind, made at that entry's time. Moved to another user, merchant or order (its usage
 * counters edited to match), it would free a per-user or per-merchant limit or the order's one
 * discount; moved to another coupon, a single-use coupon; its kind or time edited, it would hide a
 * redemption outside the rules (invariant 5 judges what is stored).
 */
function madeMisfit(r: Redemption, rec: Recorded): string | null {
  if (r.created_at_ms !== rec.at_ms) return `was made at ${r.created_at_ms}, audited ${rec.at_ms}`;
  if (rec.made === null) return null;
  const audited = rec.made.split('\n');
  for (const [i, f] of made_fields.entries()) {
    if (r[f] !== audited[i]) return `${f} is ${r[f]}, audited ${audited[i]}`;
  }
  return null;
}

/** Coupon ids looked up per store read (couponsById takes at most a thousand). */
const coupons_per_read = 1000;

/**
 * Hands `items` to `check` a page at a time with their coupons' rows (by id), one store read a page:
 * the items may stream from a chain, and no map of them all is kept.
 */
export async function withCouponRows<T>(
  store: Store,
  items: Iterable<T>,
  couponOf: (item: T) => string,
  check: (page: readonly T[], rows: ReadonlyMap<string, CouponFacts>) => void,
): Promise<void> {
  let page: T[] = [];
  const read = async () => {
    const rows = await store.couponsById(page.map(couponOf));
    check(page, new Map(rows.map((r) => [r.id, r])));
    page = [];
  };
  for (const item of items) {
    page.push(item);
    if (page.length >= coupons_per_read) await read();
  }
  if (page.length > 0) await read();
}

/** A reversal that left its coupon used (see checkKeptCoupons): its redemption, coupon and record. */
function* keptCoupons(recorded: Map<string, Recorded>): Generator<[string, string, Recorded]> {
  for (const [id, rec] of recorded) {
    if (rec.status !== 'reversed' || !rec.keeps_coupon || rec.made === null) continue;
    yield [id, rec.made.slice(0, rec.made.indexOf('\n')), rec];
  }
}

/**
 * A single-use coupon whose redemption the chain reversed without giving it back (no
 * restore_coupon, or an incident's reversal) stays used: set `active` again, it would buy a second
 * discount. Its status alone cannot tell (an active coupon with only reversed redemptions is what a
 * reversal with restore_coupon leaves), so it is held to the chain: the coupons of such reversals
 * are read by id, a thousand at a time. Call only on a chain that verified.
 */
export async function checkKeptCoupons(store: Store, recorded: Map<string, Recorded>): Promise<LedgerFault | null> {
  let fault: LedgerFault | null = null;
  await withCouponRows(
    store,
    keptCoupons(recorded),
    ([, coupon_id]) => coupon_id,
    (page, rows) => {
      for (const [id, coupon_id, rec] of page) {
        const row = rows.get(coupon_id);
        if (row === undefined || row.kind === 'shared' || row.status !== 'active') continue;
        const detail = `coupon ${coupon_id} is active, but its redemption ${id} was reversed without giving it back`;
        fault = earlier(fault, { seq: rec.last_seq, detail });
      }
    },
  );
  return fault;
}
