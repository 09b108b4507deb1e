import type { AuditEntry, Store } from '../store/port.ts';
import { verifyChain } from './audit.ts';
import { checkIncidentMembers, checkIncidentTables, IncidentAudit } from './audit-incidents.ts';
import { checkRedemptionLedger, recordedDiscounts } from './audit-ledger.ts';

export const platform_chain = 'platform';

type Stored = AuditEntry & { seq: number };

/** The result of walking every audit chain; seqs are the global `seq` of the audit log. */
export interface AuditLogCheck {
  ok: boolean;
  entries: number;
  chains: number;
  /**
   * The global seq of the first bad entry. A chain cut short (its newest entries deleted)
   * has no bad entry left: then it is the seq of its last remaining entry, or 0 if none remain.
   */
  first_bad_seq: number | null;
  bad_chain: string | null;
  detail: string | null;
}

interface ChainFault {
  seq: number;
  detail: string;
}

/** Links and hashes (verifyChain), then the global order: a later link must have a later seq. */
function linkFault(chain: string, list: readonly Stored[]): ChainFault | null {
  const check = verifyChain(list);
  if (!check.ok) {
    const bad = list.find((e) => e.chain_seq === check.first_bad_seq) ?? list[0];
    return { seq: bad?.seq ?? 0, detail: `audit chain ${chain} breaks at link ${check.first_bad_seq}` };
  }
  for (let i = 1; i < list.length; i++) {
    const prev = list[i - 1];
    const e = list[i];
    if (prev && e && e.seq <= prev.seq) return { seq: e.seq, detail: `audit chain ${chain} is out of order` };
  }
  return null;
}

/** The newest entry must be the one the chain's anchor names (campaign row, or the platform head). */
function anchorFault(chain: string, list: readonly Stored[], anchor: { seq: number; hash: string } | null) {
  const tail = list[list.length - 1];
  const matches = tail ? anchor?.seq === tail.chain_seq && anchor.hash === tail.hash : anchor === null;
  if (matches) return null;
  return { seq: tail?.seq ?? 0, detail: `audit chain ${chain} does not end at its recorded head` };
}

async function anchorOf(store: Store, chain: string): Promise<{ seq: number; hash: string } | null | 'missing'> {
  if (chain === platform_chain) return store.platformAuditHead();
  const c = await store.getCampaign(chain);
  return c ? { seq: c.audit_seq, hash: c.audit_head } : 'missing';
}

/** A campaign chain's ledger: its redemptions and discounts, and what its incident entries say each incident did. */
async function ledgerFault(store: Store, chain: string, list: readonly Stored[], incidents: IncidentAudit) {
  const recorded = recordedDiscounts(list);
  const redemption = await checkRedemptionLedger(store, chain, list, recorded);
  const incident = await checkIncidentMembers(store, chain, list, recorded, incidents);
  if (redemption === null || incident === null) return redemption ?? incident;
  return incident.seq < redemption.seq ? incident : redemption;
}

/**
 * Walks every chain (each campaign's and the platform's) and checks that each verifies,
 * is in global order and ends at its anchor, that every stored redemption is one its
 * campaign's chain recorded, with that discount, and that the redemptions stored as an
 * incident's members are exactly those its freeze entries name (settled as its resolution
 * entries say). Reads only; one chain in memory at a time.
 */
export async function verifyAuditLog(store: Store, campaign_ids?: readonly string[]): Promise<AuditLogCheck> {
  const ids = campaign_ids ?? (await store.campaignIds());
  // Every campaign has a chain (its creation is the first entry), even if all its rows were deleted.
  const chains = [...new Set([...(await store.auditChains()), ...ids, platform_chain])].sort();
  let entries = 0;
  let worst: (ChainFault & { chain: string }) | null = null;
  const incidents = new IncidentAudit();
  for (const chain of chains) {
    const list = await store.auditChain(chain);
    entries += list.length;
    incidents.tails.set(chain, list[list.length - 1]?.seq ?? 0);
    const anchor = await anchorOf(store, chain);
    const fault =
      linkFault(chain, list) ??
      (anchor === 'missing'
        ? { seq: list[0]?.seq ?? 0, detail: `audit chain ${chain} has no campaign` }
        : anchorFault(chain, list, anchor)) ??
      (chain === platform_chain ? null : await ledgerFault(store, chain, list, incidents));
    if (fault && (worst === null || fault.seq < worst.seq)) worst = { ...fault, chain };
  }
  const tables = await checkIncidentTables(store, incidents);
  if (tables && (worst === null || tables.seq < worst.seq)) worst = { ...tables, chain: tables.campaign_id };
  return {
    ok: worst === null,
    entries,
    chains: chains.length,
    first_bad_seq: worst?.seq ?? null,
    bad_chain: worst?.chain ?? null,
    detail: worst?.detail ?? null,
  };
}
