import type { Campaign, CampaignSpec, CampaignStatus } from '../domain/campaign.ts';
import { canonicalJson } from './audit.ts';
import { earlier, isRecord, type LedgerFault, type Stored } from './audit-ledger.ts';

/** A campaign's settings as its chain records them, in force from the entry at `seq` on. */
export interface SpecVersion {
  seq: number;
  spec: CampaignSpec;
}

/** What a campaign's chain says its settings and status are now, and what they were. */
export interface AuditedCampaign {
  /** Oldest first; the first is the creation's. */
  versions: SpecVersion[];
  status: CampaignStatus;
  /** The entry that last set the status, and the one that last set each setting. */
  status_seq: number;
  set_at: Map<string, number>;
  /** Paused with a change awaiting approval (Campaign.needs_approval), and the entry that last set it. */
  needs_approval: boolean;
  needs_approval_seq: number;
}

const statuses: readonly CampaignStatus[] = ['draft', 'pending_approval', 'active', 'paused', 'ended', 'revoked'];

function isStatus(v: unknown): v is CampaignStatus {
  return typeof v === 'string' && (statuses as readonly string[]).includes(v);
}

/** The creation entry's settings and first status; null for a chain that does not begin with one. */
function created(e: Stored | undefined): { spec: CampaignSpec; status: CampaignStatus } | null {
  if (!e) return null;
  const data: unknown = JSON.parse(e.data_json);
  if (e.action === 'campaign.created' && isRecord(data))
    return { spec: data as unknown as CampaignSpec, status: 'draft' };
  if (e.action === 'red_envelope.created' && isRecord(data) && isRecord(data.spec)) {
    // Entries written before risky envelopes waited for approval carry no status: those started active.
    const status = data.status === undefined ? 'active' : data.status;
    return isStatus(status) ? { spec: data.spec as unknown as CampaignSpec, status } : null;
  }
  return null;
}

/**
 * Replays a campaign's settings and status from its chain: the creation entry's settings, each
 * `campaign.updated` entry's changes (and the status it left), each lifecycle entry's `to`, and an
 * expired envelope's refund, which shrinks its budget. Call only on a chain that verified, so its
 * entries are what was written; null when the chain does not begin with a creation entry.
 */
export function auditedCampaign(chain: readonly Stored[]): AuditedCampaign | null {
  const first = created(chain[0]);
  if (first === null) return null;
  const start = chain[0]?.seq ?? 0;
  const a: AuditedCampaign = {
    versions: [{ seq: start, spec: first.spec }],
    status: first.status,
    status_seq: start,
    set_at: new Map(Object.keys(first.spec).map((k) => [k, start])),
    needs_approval: false,
    needs_approval_seq: start,
  };
  for (const e of chain.slice(1)) {
    const updates = e.action === 'campaign.updated';
    const expires = e.action === 'red_envelope.expired';
    const lifecycle = e.action.startsWith('campaign.');
    if (!updates && !expires && !lifecycle) continue;
    const data: unknown = JSON.parse(e.data_json);
    if (!isRecord(data)) continue;
    const set: Record<string, unknown> = {};
    if (updates && isRecord(data.changes)) {
      for (const [field, change] of Object.entries(data.changes)) if (isRecord(change)) set[field] = change.to;
    }
    if (expires && typeof data.budget_minor === 'number') set.budget_minor = data.budget_minor;
    if (Object.keys(set).length > 0) {
      const prev = a.versions[a.versions.length - 1]?.spec ?? first.spec;
      a.versions.push({ seq: e.seq, spec: { ...prev, ...set } as CampaignSpec });
      for (const field of Object.keys(set)) a.set_at.set(field, e.seq);
    }
    if (lifecycle && isStatus(data.to)) {
      a.status = data.to;
      a.status_seq = e.seq;
    }
    // Set by a risky change while paused or by pausing a pending campaign; a resume into
    // pending_approval hands it back to the status.
    if (lifecycle && data.needs_approval === true) {
      a.needs_approval = true;
      a.needs_approval_seq = e.seq;
    } else if (e.action === 'campaign.resume' && data.to === 'pending_approval') {
      a.needs_approval = false;
      a.needs_approval_seq = e.seq;
    }
  }
  return a;
}

/** The settings in force when the entry at `seq` was written. */
export function specAt(a: AuditedCampaign, seq: number): CampaignSpec {
  let spec = a.versions[0]?.spec;
  for (const v of a.versions) if (v.seq < seq) spec = v.spec;
  if (!spec) throw new Error('an audited campaign has no version');
  return spec;
}

/**
 * The campaign row must say what its chain says: every setting (budget, limits, window, rules)
 * and the status. A budget raised, a limit loosened or a paused campaign set active in the row
 * alone shows here, at the entry that last set what the row contradicts.
 */
export function settingsFault(c: Campaign, a: AuditedCampaign): LedgerFault | null {
  let fault: LedgerFault | null = null;
  const note = (f: LedgerFault) => {
    fault = earlier(fault, f);
  };
  const now = a.versions[a.versions.length - 1]?.spec ?? {};
  const row = c as unknown as Record<string, unknown>;
  for (const [field, value] of Object.entries(now)) {
    if (canonicalJson(row[field]) === canonicalJson(value)) continue;
    const seq = a.set_at.get(field) ?? a.status_seq;
    note({ seq, detail: `campaign ${c.id} ${field} is ${canonicalJson(row[field])}, audited ${canonicalJson(value)}` });
  }
  if (c.status !== a.status) {
    note({ seq: a.status_seq, detail: `campaign ${c.id} is ${c.status}, audited ${a.status}` });
  }
  if ((c.needs_approval ?? false) !== a.needs_approval) {
    const detail = `campaign ${c.id} needs_approval is ${c.needs_approval ?? false}, audited ${a.needs_approval}`;
    note({ seq: a.needs_approval_seq, detail });
  }
  return fault;
}
