import type { Campaign } from '../domain/campaign.ts';
import type { Breakdown, IncidentStatus, MemberOutcome } from '../domain/incident.ts';
import { allRows } from '../store/all-rows.ts';
import type { Store } from '../store/port.ts';
import { earlier, isRecord, type LedgerFault, type Recorded, type Stored } from './audit-ledger.ts';

/** What one campaign's chain says an incident did with its redemptions. */
interface Listed {
  /** Redemptions its freeze entries name, each with the seq of the entry that froze it. */
  frozen: Map<string, number>;
  /** Holds its release entries name (its freeze released them), each with the seq of that entry, and their sum. */
  released: Map<string, number>;
  released_minor: number;
  /** What its resolution entries say each member became. */
  settled: Map<string, MemberOutcome>;
  /** Entries written before entries named their ids: then only the count can be checked. */
  unlisted: boolean;
  count: number;
  /** Coupons its revocation entries name; unlisted_revoked when some entry named none (older entries). */
  revoked: number;
  unlisted_revoked: boolean;
}

/**
 * What the campaign chains say about incidents, gathered chain by chain, for the checks that span
 * tables rather than one chain: member rows of pairs no chain lists, and revocation counts.
 */
export class IncidentAudit {
  /** (incident, campaign) pairs whose member rows were held to their chain. */
  readonly members = new Set<string>();
  /** Coupons each (incident, campaign) revoked, as its chain counts them. */
  readonly revoked = new Map<string, { coupons: number; unlisted: boolean }>();
  /** Holds each (incident, campaign) released, as its chain names them. */
  readonly released = new Map<string, Breakdown>();
  /**
   * Each chain's last global seq (the caller notes every chain it walks): where a fault nothing
   * else locates is reported, after any fault found inside that chain.
   */
  readonly tails = new Map<string, number>();
}

const page_rows = 4_000;
function strings(v: unknown): string[] | null {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : null;
}

function listedOf(out: Map<string, Listed>, incident_id: string): Listed {
  const found = out.get(incident_id);
  if (found) return found;
  const fresh: Listed = {
    frozen: new Map(),
    released: new Map(),
    released_minor: 0,
    settled: new Map(),
    unlisted: false,
    count: 0,
    revoked: 0,
    unlisted_revoked: false,
  };
  out.set(incident_id, fresh);
  return fresh;
}

/**
 * The redemptions a freeze or release entry names, each noted in `moved` with the entry's seq:
 * its ids and discounts must agree with its count and total and with what the chain recorded.
 * Null for an entry that names no ids (written before entries named them).
 */
function readMoved(
  e: Stored,
  data: Record<string, unknown>,
  moved: Map<string, number>,
  recorded: Map<string, Recorded>,
): LedgerFault | Breakdown | null {
  const ids = strings(data.redemption_ids);
  if (ids === null) return null;
  const discounts = data.discounts_minor;
  const fault = (detail: string): LedgerFault => ({ seq: e.seq, detail: `${e.action} of ${e.subject}: ${detail}` });
  if (!Array.isArray(discounts) || discounts.length !== ids.length || data.count !== ids.length) {
    return fault('its ids, discounts and count disagree');
  }
  const verb = e.action.replace('redemptions.', '');
  let sum = 0;
  for (const [i, id] of ids.entries()) {
    const d = discounts[i];
    if (typeof d !== 'number' || recorded.get(id)?.discount_minor !== d) return fault(`${id} is not as recorded`);
    if (moved.has(id)) return fault(`${id} ${verb} twice`);
    moved.set(id, e.seq);
    sum += d;
  }
  if (sum !== data.discount_minor) return fault(`discounts sum to ${sum}, not ${String(data.discount_minor)}`);
  return { count: ids.length, discount_minor: sum };
}

/** A freeze entry: the redemptions it froze (readMoved); an older one that names none leaves only its count. */
function readFreeze(e: Stored, data: Record<string, unknown>, into: Listed, recorded: Map<string, Recorded>) {
  const read = readMoved(e, data, into.frozen, recorded);
  if (read === null) {
    into.unlisted = true;
    into.count += typeof data.count === 'number' ? data.count : 0;
    return null;
  }
  if ('seq' in read) return read;
  into.count += read.count;
  return null;
}

/** A release entry: the holds the incident's freeze released (readMoved); every one names them. */
function readRelease(e: Stored, data: Record<string, unknown>, into: Listed, recorded: Map<string, Recorded>) {
  const read = readMoved(e, data, into.released, recorded);
  if (read === null) return { seq: e.seq, detail: `${e.action} of ${e.subject}: it names no ids` };
  if ('seq' in read) return read;
  into.released_minor += read.discount_minor;
  return null;
}

/** A resolution entry: every member it names (moved or skipped) was frozen by the incident and settled once. */
function readSettle(
  e: Stored,
  data: Record<string, unknown>,
  into: Listed,
  outcome: Exclude<MemberOutcome, 'skipped'>,
) {
  const ids = strings(data.redemption_ids);
  if (ids === null) {
    into.unlisted = true;
    return null;
  }
  const marks: Array<[string, MemberOutcome]> = [
    ...ids.map((id): [string, MemberOutcome] => [id, outcome]),
    ...(strings(data.skipped_ids) ?? []).map((id): [string, MemberOutcome] => [id, 'skipped']),
  ];
  for (const [id, mark] of marks) {
    if (into.settled.has(id) || (!into.unlisted && !into.frozen.has(id))) {
      return { seq: e.seq, detail: `${e.action} of ${e.subject}: ${id} was not a pending member` };
    }
    into.settled.set(id, mark);
  }
  return null;
}

/** A revocation entry: the coupons it names, as many as it counts. */
function readRevoke(e: Stored, data: Record<string, unknown>, into: Listed): LedgerFault | null {
  const ids = strings(data.coupon_ids);
  if (ids === null) {
    into.unlisted_revoked = true;
    return null;
  }
  into.revoked += ids.length;
  return data.count === ids.length ? null : { seq: e.seq, detail: `${e.action} of ${e.subject}: count disagrees` };
}

/** How each incident entry of a campaign chain is read into what the chain says of its incident. */
type Reader = (
  e: Stored,
  data: Record<string, unknown>,
  into: Listed,
  recorded: Map<string, Recorded>,
) => LedgerFault | null;

const readers = new Map<string, Reader>([
  ['redemptions.frozen', readFreeze],
  ['redemptions.released', readRelease],
  ['redemptions.reversed', (e, data, into) => readSettle(e, data, into, 'reversed')],
  ['redemptions.honoured', (e, data, into) => readSettle(e, data, into, 'honoured')],
  ['coupons.revoked', (e, data, into) => readRevoke(e, data, into)],
]);

/** Reads a campaign chain's incident entries: per incident, what it froze, released, settled and revoked. */
function incidentsListed(
  chain: readonly Stored[],
  recorded: Map<string, Recorded>,
): { listed: Map<string, Listed>; fault: LedgerFault | null } {
  const listed = new Map<string, Listed>();
  for (const e of chain) {
    const read = readers.get(e.action);
    if (read === undefined) continue;
    const data: unknown = JSON.parse(e.data_json);
    if (!isRecord(data)) return { listed, fault: { seq: e.seq, detail: `${e.action} has no data` } };
    const fault = read(e, data, listedOf(listed, e.subject), recorded);
    if (fault) return { listed, fault };
  }
  return { listed, fault: null };
}

/** Streams the stored members of one incident in one campaign and holds them to what the chain lists. */
async function compareMembers(
  store: Store,
  campaign_id: string,
  incident_id: string,
  listed: Listed,
  tail_seq: number,
): Promise<LedgerFault | null> {
  const where = `incident ${incident_id} in ${campaign_id}`;
  const found = new Set<string>();
  let rows = 0;
  let after = '';
  // A row no entry explains: the fault is at the chain's end (the entries never said it).
  let extra: LedgerFault | null = null;
  for (;;) {
    const page = await store.incidentMembers(incident_id, campaign_id, after, page_rows);
    for (const m of page) {
      rows += 1;
      found.add(m.redemption_id);
      if (listed.unlisted || extra) continue;
      const expected = listed.settled.get(m.redemption_id) ?? null;
      if (!listed.frozen.has(m.redemption_id)) {
        extra = { seq: tail_seq, detail: `${where}: member ${m.redemption_id} is in no freeze entry` };
      } else if (m.outcome !== expected) {
        const detail = `${where}: member ${m.redemption_id} is ${m.outcome ?? 'pending'}, audited ${expected ?? 'pending'}`;
        extra = { seq: tail_seq, detail };
      }
    }
    const last = page[page.length - 1];
    if (last === undefined || page.length < page_rows) break;
    after = last.redemption_id;
  }
  // A listed id with no row: the fault is at the entry that froze it.
  for (const [id, seq] of listed.unlisted ? [] : listed.frozen) {
    if (!found.has(id)) return { seq, detail: `${where}: ${id} was frozen (audited) but is not a member` };
  }
  if (extra || rows === listed.count) return extra;
  return { seq: tail_seq, detail: `${where}: ${rows} member rows, its freeze entries count ${listed.count}` };
}

/**
 * Incident membership is held to the chain: for every incident whose entries appear in this
 * campaign's chain, the stored incident_redemptions rows (and their outcomes) must be exactly the
 * ids its freeze entries list (and what its resolution entries say). Notes in `audit` what it
 * checked and what the chain says was revoked and released, for checkIncidentTables. Call only on
 * a chain that verified.
 */
export async function checkIncidentMembers(
  store: Store,
  campaign_id: string,
  chain: readonly Stored[],
  recorded: Map<string, Recorded>,
  audit: IncidentAudit,
): Promise<LedgerFault | null> {
  const { listed, fault } = incidentsListed(chain, recorded);
  const tail_seq = chain[chain.length - 1]?.seq ?? 0;
  let worst = fault;
  for (const [incident_id, l] of listed) {
    const key = pairKey(incident_id, campaign_id);
    audit.members.add(key);
    audit.revoked.set(key, { coupons: l.revoked, unlisted: l.unlisted_revoked });
    audit.released.set(key, { count: l.released.size, discount_minor: l.released_minor });
    const f = await compareMembers(store, campaign_id, incident_id, l, tail_seq);
    if (f && (worst === null || f.seq < worst.seq)) worst = f;
  }
  return worst;
}

/**
 * The campaign's revoke_through_id must be the newest bound its chain's revocation entries name:
 * lower (or gone), a reversal with restore_coupon would hand back a coupon an incident covered;
 * higher, it names a bound no incident set. Revocation entries written before they named their
 * bound hold it from below only (the row may carry the bound their incident saved). Call only on
 * a chain that verified.
 */
export function revokeBoundFault(c: Campaign, chain: readonly Stored[]): LedgerFault | null {
  let named: string | null = null;
  let named_seq = 0;
  let unnamed = false;
  for (const e of chain) {
    if (e.action !== 'coupons.revoked') continue;
    const data: unknown = JSON.parse(e.data_json);
    const bound = isRecord(data) && typeof data.through_id === 'string' ? data.through_id : null;
    if (bound === null) unnamed = true;
    else if (named === null || bound > named) {
      named = bound;
      named_seq = e.seq;
    }
  }
  const row = c.revoke_through_id ?? null;
  if (row === named) return null;
  const lower = named !== null && (row === null || row < named);
  if (unnamed && !lower) return null;
  const detail = `campaign ${c.id} revoke_through_id is ${row ?? 'unset'}, its chain names ${named ?? 'none'}`;
  return { seq: lower ? named_seq : (chain[chain.length - 1]?.seq ?? 0), detail };
}

/**
 * After every chain: member rows of an (incident, campaign) that no chain mentions (inserted behind
 * the audit's back), and revocation and release counts that differ from what the chains name.
 */
export async function checkIncidentTables(
  store: Store,
  audit: IncidentAudit,
): Promise<(LedgerFault & { campaign_id: string }) | null> {
  const at = (campaign_id: string, detail: string) => ({ seq: audit.tails.get(campaign_id) ?? 0, detail, campaign_id });
  let worst: (LedgerFault & { campaign_id: string }) | null = null;
  const note = (f: LedgerFault & { campaign_id: string }) => {
    worst = earlier(worst, f);
  };
  for (const { incident_id, campaign_id } of await store.incidentMemberCampaigns()) {
    if (audit.members.has(pairKey(incident_id, campaign_id))) continue;
    note(at(campaign_id, `incident ${incident_id} has members in ${campaign_id} that no freeze entry lists`));
  }
  const stored = new Map<string, number>();
  for (const r of await store.incidentRevocations()) {
    const key = pairKey(r.incident_id, r.campaign_id);
    stored.set(key, r.coupons);
    const listed = audit.revoked.get(key);
    if (listed?.unlisted) continue;
    if ((listed?.coupons ?? 0) !== r.coupons) {
      const says = `incident ${r.incident_id} revoked ${r.coupons} coupons in ${r.campaign_id}`;
      note(at(r.campaign_id, `${says}; its entries name ${listed?.coupons ?? 0}`));
    }
  }
  for (const [key, listed] of audit.revoked) {
    if (listed.unlisted || listed.coupons === 0 || stored.has(key)) continue;
    const [incident_id = '', campaign_id = ''] = key.split('\u0000');
    note(at(campaign_id, `incident ${incident_id} revoked ${listed.coupons} coupons in ${campaign_id}, none counted`));
  }
  for (const f of await releaseFaults(store, audit)) note(at(f.campaign_id, f.detail));
  return worst;
}

/** Released holds counted per (incident, campaign) that differ from the holds the chains name, both ways. */
async function releaseFaults(
  store: Store,
  audit: IncidentAudit,
): Promise<Array<{ campaign_id: string; detail: string }>> {
  const out: Array<{ campaign_id: string; detail: string }> = [];
  const shown = (b: Breakdown) => `${b.count} holds (${b.discount_minor} minor)`;
  const stored = new Set<string>();
  for (const r of await store.incidentReleases()) {
    const key = pairKey(r.incident_id, r.campaign_id);
    stored.add(key);
    const listed = audit.released.get(key) ?? { count: 0, discount_minor: 0 };
    if (listed.count === r.count && listed.discount_minor === r.discount_minor) continue;
    const says = `incident ${r.incident_id} released ${shown(r)} in ${r.campaign_id}`;
    out.push({ campaign_id: r.campaign_id, detail: `${says}; its entries name ${shown(listed)}` });
  }
  for (const [key, listed] of audit.released) {
    if (listed.count === 0 || stored.has(key)) continue;
    const [incident_id = '', campaign_id = ''] = key.split('\u0000');
    out.push({
      campaign_id,
      detail: `incident ${incident_id} released ${shown(listed)} in ${campaign_id}, none counted`,
    });
  }
  return out;
}

function pairKey(incident_id: string, campaign_id: string): string {
  return `${incident_id}\u0000${campaign_id}`;
}

/** The status each incident entry of the platform chain leaves its incident in. */
const incidentEntryStatus = new Map<string, IncidentStatus>([
  ['incident.opening', 'opening'],
  ['incident.opened', 'open'],
  ['incident.resolved', 'resolved'],
]);

/**
 * The stored incidents are the ones the platform chain opened, each in a status its entries allow:
 * `opening` until `incident.opened`, then `open` or `resolving` (a resolution begins unaudited, and
 * ends with `incident.resolved`), then `resolved`. An incident set back to `opening` would stop verify
 * from holding its campaigns to the revocation bound (revokingCampaigns); one deleted, or inserted
 * behind the audit's back, shows too. Reads the incidents a page at a time; keeps one status per
 * incident the chain names. Call only on a platform chain that verified.
 */
export async function checkIncidentLog(store: Store, chain: readonly Stored[]): Promise<LedgerFault | null> {
  const audited = new Map<string, { status: IncidentStatus; seq: number }>();
  for (const e of chain) {
    const status = incidentEntryStatus.get(e.action);
    if (status !== undefined) audited.set(e.subject, { status, seq: e.seq });
  }
  const tail_seq = chain[chain.length - 1]?.seq ?? 0;
  let fault: LedgerFault | null = null;
  const note = (f: LedgerFault) => {
    fault = earlier(fault, f);
  };
  const seen = new Set<string>();
  for await (const i of allRows((q) => store.listIncidents(q))) {
    seen.add(i.id);
    const a = audited.get(i.id);
    if (a === undefined) {
      note({ seq: tail_seq, detail: `incident ${i.id} is not in the platform chain` });
    } else if (i.status !== a.status && !(a.status === 'open' && i.status === 'resolving')) {
      note({ seq: a.seq, detail: `incident ${i.id} is ${i.status}, audited ${a.status}` });
    }
  }
  for (const [id, a] of audited) {
    if (!seen.has(id)) note({ seq: a.seq, detail: `incident ${id} is audited but not stored` });
  }
  return fault;
}
