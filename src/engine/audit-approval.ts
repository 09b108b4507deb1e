import type { Campaign } from '../domain/campaign.ts';
import { type KeyOrigin, selfApprovalReason } from '../domain/key-lineage.ts';
import { canonicalJson } from './audit.ts';
import { earlier, isRecord, type LedgerFault, type Stored } from './audit-ledger.ts';

/**
 * Maker-checker held to a campaign's chain (campaign-handlers.ts approve). The chain names every maker:
 * the creation entry's actor, each change's actor and, since changes record it, the keys that changed
 * the campaign since its last approval (campaign.updated data.changed_since_approval). So:
 *
 * - every approval (campaign.approve with an actor) is by a key that is not the creator, the last
 *   changer, nor one the last change recorded, rules every release enforced; and, for approvals that
 *   record the approver's lineage (made since approvals follow lineage), none whose lineage holds a
 *   maker or whose makers' lineage holds it, judged on the stored keys' origins (which verify holds to
 *   the platform chain, audit-keys.ts). A maker edited out of the campaign row to approve its own work,
 *   even if the row was put back afterwards, shows at that approval;
 * - each change's recorded list keeps every key the one before it recorded, unless an approval came
 *   between (a maker dropped from the row before another key's change);
 * - the row's created_by, changed_by and approved_by are what the chain says, and its
 *   changed_since_approval holds every key the last change recorded since the last approval.
 *
 * Sound on stores from every release: changes made before lists were recorded leave them out of the
 * check (the row's list then was not kept, or began empty), and a shorter list than the chain's never
 * counts against an older row. Extra keys in the row's list are not reported: they only narrow who may
 * approve. Call only on a chain that verified.
 */
export function approvalFault(
  c: Campaign,
  chain: readonly Stored[],
  origins: ReadonlyMap<string, KeyOrigin>,
): LedgerFault | null {
  const first = chain[0];
  if (first === undefined || (first.action !== 'campaign.created' && first.action !== 'red_envelope.created')) {
    return null;
  }
  let fault: LedgerFault | null = null;
  const note = (f: LedgerFault) => {
    fault = earlier(fault, f);
  };
  const creator = first.actor;
  let changer = { key: first.actor, seq: first.seq };
  let approved = { key: null as string | null, seq: first.seq };
  /** The keys the last change since the last approval recorded as having changed it since then. */
  let recorded = { keys: [] as string[], seq: first.seq };
  for (const e of chain.slice(1)) {
    if (e.action !== 'campaign.updated' && e.action !== 'campaign.approve') continue;
    const data: unknown = JSON.parse(e.data_json);
    if (e.action === 'campaign.updated') {
      const list = isRecord(data) ? data.changed_since_approval : undefined;
      if (Array.isArray(list)) {
        const keys = list.filter((k): k is string => typeof k === 'string');
        const kept = e.actor === null ? recorded.keys : [...recorded.keys, e.actor];
        const lost = kept.find((k) => !keys.includes(k));
        if (lost !== undefined) {
          note({ seq: e.seq, detail: `campaign ${c.id} change records its makers without ${lost}, who changed it` });
        }
        recorded = { keys, seq: e.seq };
      }
      changer = { key: e.actor, seq: e.seq };
      // A risky change to a live campaign withdraws its approval (update-handler.ts).
      const risky = isRecord(data) && Array.isArray(data.risky) && data.risky.length > 0;
      if (risky && isRecord(data) && (data.from === 'active' || data.from === 'paused')) {
        approved = { key: null, seq: e.seq };
      }
      continue;
    }
    if (e.actor !== null) {
      const makers = [creator, changer.key, ...recorded.keys];
      if (makers.includes(e.actor)) {
        note({ seq: e.seq, detail: `campaign ${c.id} was approved by ${e.actor}, one of its makers` });
      } else if (isRecord(data) && Array.isArray(data.approver_lineage)) {
        const why = selfApprovalReason(origins, e.actor, makers);
        if (why !== null) note({ seq: e.seq, detail: `campaign ${c.id} was approved by ${e.actor}: ${why}` });
      }
    }
    approved = { key: e.actor, seq: e.seq };
    recorded = { keys: [], seq: e.seq };
  }
  const row = (field: string, value: unknown, audited: unknown, seq: number) => {
    if (value === audited) return;
    note({ seq, detail: `campaign ${c.id} ${field} is ${canonicalJson(value)}, audited ${canonicalJson(audited)}` });
  };
  row('created_by', c.created_by, creator, first.seq);
  row('changed_by', c.changed_by, changer.key, changer.seq);
  row('approved_by', c.approved_by, approved.key, approved.seq);
  const kept = c.changed_since_approval ?? [];
  const lost = recorded.keys.find((k) => !kept.includes(k));
  if (lost !== undefined) {
    const detail = `campaign ${c.id} changed_since_approval is ${canonicalJson(kept)}, without ${lost}, who changed it since its last approval`;
    note({ seq: recorded.seq, detail });
  }
  return fault;
}
