import type { Campaign } from '../domain/campaign.ts';
import type { KeyOrigin } from '../domain/key-lineage.ts';
import type { Store } from '../store/port.ts';
import { verifyChain } from './audit.ts';
import { approvalFault } from './audit-approval.ts';
import { type AuditedCampaign, auditedCampaign, settingsFault } from './audit-campaign.ts';
import {
  type AuditedEnvelope,
  auditedEnvelope,
  checkClaimLedger,
  generatedCodes,
  recordedPackets,
} from './audit-claims.ts';
import { type AuditDigest, type ChainHeadRef, digestLinkFault } from './audit-digest.ts';
import {
  checkIncidentLog,
  checkIncidentMembers,
  checkIncidentTables,
  IncidentAudit,
  revokeBoundFault,
} from './audit-incidents.ts';
import { checkApiKeyLog } from './audit-keys.ts';
import {
  checkKeptCoupons,
  checkRedemptionLedger,
  earlier,
  type LedgerFault,
  type Recorded,
  recordedRedemptions,
  type Stored,
} from './audit-ledger.ts';

export const platform_chain = 'platform';

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

/** Links and hashes (verifyChain), then the global order: a later link must have a later seq. */
function linkFault(chain: string, list: readonly Stored[]): LedgerFault | null {
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

/**
 * What a campaign's chain says, for checks beyond the chain's own (verifyStore judges each
 * redemption by the rules in force when it was made): null where the chain did not verify.
 */
export interface CampaignLedger {
  campaign: Campaign;
  audited: AuditedCampaign | null;
  recorded: Map<string, Recorded>;
  /** Unique codes its `codes.generated` entries issued. */
  codes_generated: number;
  /** A red envelope's packets as split at creation (their keyed digest: audit.ts packetsDigest); null otherwise. */
  packets_sha256: string | null;
  /** A red envelope's terms and settlement as its chain records them; null otherwise. */
  envelope: AuditedEnvelope | null;
  /**
   * How many coupons the chain issued to each user, kept only for a claim campaign with a
   * per_user_limit (whose `claim:` counters must match); null otherwise.
   */
  claims_by_user: Map<string, number> | null;
}

/**
 * A campaign chain's ledger: the campaign's settings and status, its makers and approvals
 * (audit-approval.ts), its redemptions (discount,
 * status, existence), its claimed coupons (owner, value, expiry, existence: audit-claims.ts),
 * what its incident entries say each incident did, and the revocation bound they leave on the
 * campaign; and, for verify's later checks, its unique codes' count and an envelope's split.
 */
async function ledgerFault(
  store: Store,
  c: Campaign,
  list: readonly Stored[],
  incidents: IncidentAudit,
  origins: ReadonlyMap<string, KeyOrigin>,
): Promise<{ fault: LedgerFault | null; ledger: CampaignLedger }> {
  const audited = auditedCampaign(list);
  const recorded = recordedRedemptions(list);
  const settings = earlier(audited === null ? null : settingsFault(c, audited), approvalFault(c, list, origins));
  const redemption = earlier(
    await checkRedemptionLedger(store, c.id, list, recorded),
    await checkKeptCoupons(store, recorded),
  );
  const claims_by_user = c.code_mode === 'claim' && c.per_user_limit !== null ? new Map<string, number>() : null;
  const claims = await checkClaimLedger(store, c, list, audited, claims_by_user ?? undefined);
  const incident = earlier(
    await checkIncidentMembers(store, c.id, list, recorded, incidents),
    revokeBoundFault(c, list),
  );
  return {
    fault: earlier(earlier(earlier(settings, redemption), claims), incident),
    ledger: {
      campaign: c,
      audited,
      recorded,
      codes_generated: generatedCodes(list),
      packets_sha256: recordedPackets(list),
      envelope: auditedEnvelope(list),
      claims_by_user,
    },
  };
}

/** One chain: its links, its anchor and, for a campaign's, its ledger (then onCampaign). */
async function checkChain(
  store: Store,
  chain: string,
  list: readonly Stored[],
  incidents: IncidentAudit,
  origins: ReadonlyMap<string, KeyOrigin>,
  onCampaign: ((c: Campaign, ledger: CampaignLedger | null) => Promise<void>) | undefined,
): Promise<LedgerFault | null> {
  const c = chain === platform_chain ? null : await store.getCampaign(chain);
  const anchor =
    chain === platform_chain ? await store.platformAuditHead() : c && { seq: c.audit_seq, hash: c.audit_head };
  let fault =
    linkFault(chain, list) ??
    (chain !== platform_chain && c === null
      ? { seq: list[0]?.seq ?? 0, detail: `audit chain ${chain} has no campaign` }
      : anchorFault(chain, list, anchor));
  let ledger: CampaignLedger | null = null;
  if (fault === null && c !== null) ({ fault, ledger } = await ledgerFault(store, c, list, incidents, origins));
  if (fault === null && chain === platform_chain) {
    fault = earlier(await checkIncidentLog(store, list), await checkApiKeyLog(store, list));
  }
  if (c !== null) await onCampaign?.(c, ledger);
  return fault;
}

/** Resolves on a later turn of the event loop, after the I/O and timers waiting meanwhile. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Walks every chain (each campaign's and the platform's) and checks that each verifies,
 * is in global order and ends at its anchor; with a digest (audit-digest.ts), that every chain
 * it names still holds the link it recorded; that each campaign's settings and status are
 * what its chain says (audit-campaign.ts); that the stored redemptions and the ones its chain
 * recorded are the same, with the same discounts and statuses (audit-ledger.ts); and that the
 * redemptions stored as an incident's members are exactly those its freeze entries name
 * (settled as its resolution entries say). A chain that cannot be read is a finding, not a
 * crash. Reads only; one chain in memory at a time.
 */
export async function verifyAuditLog(
  store: Store,
  campaign_ids?: readonly string[],
  /** Called once per stored campaign, after its chain was checked, with what the chain says (see CampaignLedger). */
  onCampaign?: (c: Campaign, ledger: CampaignLedger | null) => Promise<void>,
  /** Heads recorded earlier (checked sound with digestDefect); each chain must still hold its link. */
  digest?: AuditDigest,
  /**
   * Awaited before each chain: a server passes nextTurn, so that its other requests are served
   * between chains (on SQLite every read is synchronous, and a run would otherwise hold the event
   * loop from start to end). Only where the store's snapshot allows it (readSnapshotApart).
   */
  pause?: () => Promise<void>,
): Promise<AuditLogCheck> {
  const ids = campaign_ids ?? (await store.campaignIds());
  const recorded = new Map<string, ChainHeadRef>((digest?.heads ?? []).map((h) => [h.chain, h]));
  // Every campaign has a chain (its creation is the first entry), even if all its rows were
  // deleted; so does every chain a digest names, even if it and its campaign were deleted.
  const chains = [...new Set([...(await store.auditChains()), ...ids, ...recorded.keys(), platform_chain])].sort();
  let entries = 0;
  let worst: (LedgerFault & { chain: string }) | null = null;
  const incidents = new IncidentAudit();
  // The keys' origins, for maker-checker's lineage (audit-approval.ts); keys are few. A key row that
  // cannot be read leaves none here, not a crash: the platform chain's check reads them again and reports it.
  const origins = new Map<string, KeyOrigin>(
    (await store.listApiKeys().catch(() => [])).map((k) => [k.id, { created_by: k.created_by, replaces: k.replaces }]),
  );
  for (const chain of chains) {
    await pause?.();
    const list = await store.auditChain(chain);
    entries += list.length;
    const tail_seq = list[list.length - 1]?.seq ?? 0;
    incidents.tails.set(chain, tail_seq);
    let fault: LedgerFault | null;
    try {
      // The digest's finding first: of a chain deleted whole, "has no campaign" says less.
      fault = earlier(
        digestLinkFault(chain, list, recorded.get(chain)),
        await checkChain(store, chain, list, incidents, origins, onCampaign),
      );
    } catch (err) {
      // Rows edited into something the checks cannot read (a campaign row or entry data that is
      // not JSON, a field of the wrong type) are a finding, not a crash: the other chains go on.
      fault = { seq: tail_seq, detail: `audit chain ${chain} cannot be checked: ${String(err)}` };
    }
    worst = earlier(worst, fault && { ...fault, chain });
  }
  const tables = await checkIncidentTables(store, incidents);
  worst = earlier(worst, tables && { ...tables, chain: tables.campaign_id });
  return {
    ok: worst === null,
    entries,
    chains: chains.length,
    first_bad_seq: worst?.seq ?? null,
    bad_chain: worst?.chain ?? null,
    detail: worst?.detail ?? null,
  };
}
