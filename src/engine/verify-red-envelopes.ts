import { availableMinor, type Campaign } from '../domain/campaign.ts';
import type { RedEnvelope } from '../domain/red-envelope-campaign.ts';
import type { Store } from '../store/port.ts';
import type { PacketCheck, StoredRedEnvelopeRow } from '../store/port-red-envelopes.ts';
import { packetsDigest } from './audit.ts';
import type { AuditedEnvelope } from './audit-claims.ts';

type Fail = (invariant: string, detail: string) => void;

/** The sweeper runs every second; past this, an expired envelope's unrefunded remainder is a violation. */
export const settle_grace_ms = 60_000;

/**
 * Invariant 6: the packets sum to the total, grabs took a prefix of them (so the sum of grabs never
 * exceeds the total and is the total once all are grabbed), one grab per user, each grab became a coupon of
 * exactly its packet's value, the packets are the split its chain recorded, and after expiry the remainder
 * was refunded from the budget and recorded. The envelope's own fields are its chain's (the terms its
 * creation entry was made with; settled exactly when, and by what, its expiry entry says), and its index
 * row, which the sweeper finds it by, agrees with it.
 */
export async function verifyRedEnvelope(
  store: Store,
  c: Campaign,
  fail: Fail,
  now_ms: number | null,
  /** The packets' fingerprint its audit chain recorded at creation (audit-claims.ts); null: not known. */
  packets_sha256: string | null,
  /** The envelope as its audit chain records it (audit-claims.ts); null: not known. */
  audited: AuditedEnvelope | null = null,
): Promise<void> {
  const env = c.red_envelope;
  if (!env) {
    if (c.code_mode === 'red_envelope') fail('6', 'a red_envelope campaign without its envelope');
    return;
  }
  if (audited !== null) checkAgainstChain(env, audited, fail);
  checkIndexRow(env, await store.redEnvelopeRow(c.id), fail);
  const packets = await store.redEnvelopePackets(c.id);
  const grabbers = checkPackets(env, packets, fail);
  // The split is fixed at creation: amounts moved between packets (a grabbed one raised, an ungrabbed
  // one lowered, the sum kept) show against the fingerprint the chain recorded.
  const digest = packetsDigest(
    packets.map((p) => p.amount_minor),
    env.packets_key,
  );
  if (packets_sha256 !== null && digest !== packets_sha256) {
    fail('6', 'the packets differ from the split its audit chain recorded at creation');
  }
  if (c.claimed_count !== env.grabbed_count)
    fail('6', `claimed_count ${c.claimed_count} != grabs ${env.grabbed_count}`);
  const usage = await store.usageCounts(c.id);
  let claimKeys = 0;
  for (const [key, n] of usage) if (key.startsWith('claim:') && n !== 0) claimKeys += 1;
  if (claimKeys !== grabbers.size) fail('6', `${claimKeys} users counted as grabbers, packets name ${grabbers.size}`);
  for (const user of grabbers) {
    if (usage.get(`claim:${user}`) !== 1) fail('6', `grab counter of user ${user} is not 1`);
  }
  checkSettlement(c, env, fail, now_ms);
  // Every grabbed coupon not yet used must still be payable: the budget left covers their values.
  const outstanding_minor = packets.reduce(
    (sum, p) => sum + (p.coupon_status === 'active' ? (p.coupon_value_minor ?? 0) : 0),
    0,
  );
  if (outstanding_minor > availableMinor(c)) {
    fail('6', `unused grabbed coupons worth ${outstanding_minor} > available ${availableMinor(c)}`);
  }
}

/** Returns the users who grabbed. */
function checkPackets(env: RedEnvelope, packets: readonly PacketCheck[], fail: Fail): Set<string> {
  if (packets.length !== env.count) fail('6', `${packets.length} packets, the envelope has ${env.count}`);
  const grabbers = new Set<string>();
  let total_minor = 0;
  let grabbed_minor = 0;
  for (const [i, p] of packets.entries()) {
    if (p.idx !== i) fail('6', `packet index ${p.idx} where ${i} was expected`);
    if (p.amount_minor < env.min_amount_minor) fail('6', `packet ${i} is below the minimum`);
    total_minor += p.amount_minor;
    const popped = i < env.grabbed_count;
    if ((p.grabbed_by !== null) !== popped) fail('6', `packet ${i} grabbed state disagrees with grabbed_count`);
    if (p.grabbed_by === null) continue;
    grabbed_minor += p.amount_minor;
    if (grabbers.has(p.grabbed_by)) fail('6', `user ${p.grabbed_by} grabbed more than once`);
    grabbers.add(p.grabbed_by);
    if (p.coupon_user_id !== p.grabbed_by || p.coupon_value_minor !== p.amount_minor) {
      fail('6', `packet ${i}'s coupon is missing or differs from the packet`);
    }
  }
  if (total_minor !== env.total_minor) fail('6', `packets sum to ${total_minor}, the total is ${env.total_minor}`);
  if (grabbed_minor !== env.grabbed_minor) fail('6', `grabbed_minor ${env.grabbed_minor} != packets ${grabbed_minor}`);
  if (env.grabbed_minor > env.total_minor) fail('6', 'grabbed more than the total');
  if (env.grabbed_count === env.count && env.grabbed_minor !== env.total_minor) {
    fail('6', 'fully grabbed yet the grabs do not sum to the total');
  }
  return grabbers;
}

function checkSettlement(c: Campaign, env: RedEnvelope, fail: Fail, now_ms: number | null): void {
  if (env.settled_at_ms === null) {
    if (env.refunded_minor !== 0 || c.budget_minor !== env.total_minor)
      fail('6', 'budget differs from the total before expiry');
    if (now_ms !== null && now_ms >= env.expires_at_ms + settle_grace_ms) {
      fail('6', 'expired, but the remainder was not refunded');
    }
    return;
  }
  if (env.settled_at_ms < env.expires_at_ms) fail('6', 'refunded before expiry');
  if (env.refunded_minor !== env.total_minor - env.grabbed_minor) {
    fail('6', `refunded ${env.refunded_minor}, the remainder was ${env.total_minor - env.grabbed_minor}`);
  }
  if (c.budget_minor !== env.total_minor - env.refunded_minor) fail('6', 'the budget was not reduced by the refund');
}

/**
 * The envelope's fields against its chain. Its terms never change after creation: an expiry moved later
 * keeps it grabbable (and unrefunded) past the time it was made with; a total, count or minimum edited
 * changes what the packet checks above hold it to. Its settlement is the expiry entry's, at its time: an
 * envelope settled unrecorded, or recorded settled but reading unsettled (grabbable again), shows.
 */
function checkAgainstChain(env: RedEnvelope, a: AuditedEnvelope, fail: Fail): void {
  if (env.id !== a.id) fail('6', `envelope ${env.id}, its creation entry made ${a.id}`);
  for (const f of ['total_minor', 'count', 'min_amount_minor', 'expires_at_ms', 'created_at_ms'] as const) {
    if (env[f] !== a[f]) fail('6', `envelope ${f} is ${env[f]}, its creation entry says ${a[f]}`);
  }
  if (a.expired === null) {
    if (env.settled_at_ms !== null)
      fail('6', `envelope settled at ${env.settled_at_ms}, its chain has no expiry entry`);
    return;
  }
  if (env.settled_at_ms !== a.expired.at_ms) {
    fail('6', `envelope settled_at_ms is ${env.settled_at_ms}, its expiry entry was at ${a.expired.at_ms}`);
  }
  if (env.refunded_minor !== a.expired.refunded_minor) {
    fail('6', `envelope refunded ${env.refunded_minor}, its expiry entry ${a.expired.refunded_minor}`);
  }
}

/**
 * The red_envelopes row routes grabs to the campaign and lets the sweeper find the envelope when due
 * (unsettled, expiry passed): missing, or with an expiry later than the envelope's or a settlement the
 * envelope has not had, the remainder would not be refunded on time, or ever.
 */
function checkIndexRow(env: RedEnvelope, row: StoredRedEnvelopeRow | null, fail: Fail): void {
  if (row === null) {
    fail('6', `envelope ${env.id} has no red_envelopes row: the sweeper cannot find it`);
    return;
  }
  for (const f of ['id', 'expires_at_ms', 'created_at_ms', 'settled_at_ms'] as const) {
    if (row[f] !== env[f]) fail('6', `red_envelopes row ${f} is ${row[f]}, the envelope's ${env[f]}`);
  }
}
