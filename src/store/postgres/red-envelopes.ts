import type { Campaign } from '../../domain/campaign.ts';
import type { AuditEntry, BatchWrites, IdempotencyRecord, ListQuery, OutboxEvent, Page } from '../port.ts';
import type { EnvelopePacket, PacketCheck, RedEnvelopeRow, StoredRedEnvelopeRow } from '../port-red-envelopes.ts';
import { type Db, insertAudit, insertIdempotency, type Query } from './pg-batch.ts';
import type { Write } from './pg-platform.ts';
import { campaignFromRow, int, intOrNull, type Row } from './rows.ts';

const packetCols = 'campaign_id, idx, amount_minor, grabbed_by, coupon_id, grabbed_at_ms';
/** Packets per INSERT at creation: bounded statements, however large the envelope. */
const packetsPerInsert = 10_000;

const sql = {
  campaignInsert: 'INSERT INTO campaigns (id, status, code, created_at_ms, doc) VALUES ($1, $2, $3, $4, $5)',
  envelopeInsert: 'INSERT INTO red_envelopes (id, campaign_id, expires_at_ms, created_at_ms) VALUES ($1, $2, $3, $4)',
  outboxInsert: "INSERT INTO outbox (id, type, data, created_at_ms) VALUES ($1, 'batch', $2, $3)",
  packetsInsert: `INSERT INTO red_envelope_packets (campaign_id, idx, amount_minor)
    SELECT $1, i, a FROM unnest($2::integer[], $3::bigint[]) AS u(i, a)`,
  packetsRange: `SELECT ${packetCols} FROM red_envelope_packets
    WHERE campaign_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`,
  packetsGrab: `UPDATE red_envelope_packets p SET grabbed_by = u.grabbed_by, coupon_id = u.coupon_id, grabbed_at_ms = u.at_ms
    FROM unnest($2::integer[], $3::text[], $4::text[], $5::bigint[]) AS u(idx, grabbed_by, coupon_id, at_ms)
    WHERE p.campaign_id = $1 AND p.idx = u.idx`,
  settle: 'UPDATE red_envelopes SET settled_at_ms = $1 WHERE campaign_id = $2 AND settled_at_ms IS NULL',
  campaignOf: 'SELECT campaign_id FROM red_envelopes WHERE id = $1',
  rowOf:
    'SELECT id, campaign_id, expires_at_ms, created_at_ms, settled_at_ms FROM red_envelopes WHERE campaign_id = $1',
  due: `SELECT id, campaign_id FROM red_envelopes WHERE settled_at_ms IS NULL AND expires_at_ms <= $1
    ORDER BY expires_at_ms LIMIT $2`,
  list: `SELECT c.doc FROM red_envelopes e JOIN campaigns c ON c.id = e.campaign_id
    WHERE ($1::text IS NULL OR e.id < $1) ORDER BY e.id DESC LIMIT $2`,
  checked: `SELECT p.campaign_id, p.idx, p.amount_minor, p.grabbed_by, p.coupon_id, p.grabbed_at_ms,
      c.user_id AS coupon_user_id, c.value_minor AS coupon_value_minor, c.status AS coupon_status
    FROM red_envelope_packets p LEFT JOIN coupons c ON c.id = p.coupon_id
    WHERE p.campaign_id = $1 ORDER BY p.idx`,
} as const;

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

function packetFromRow(r: Row): EnvelopePacket {
  return {
    campaign_id: String(r.campaign_id),
    idx: int(r.idx),
    amount_minor: int(r.amount_minor),
    grabbed_by: strOrNull(r.grabbed_by),
    coupon_id: strOrNull(r.coupon_id),
    grabbed_at_ms: intOrNull(r.grabbed_at_ms),
  };
}

/** The backing campaign, its first audit entry, the envelope row and its packets: one transaction. */
export function insertRedEnvelope(
  write: Write,
  c: Campaign,
  audit: AuditEntry,
  env: RedEnvelopeRow,
  packets_minor: readonly number[],
  idem: IdempotencyRecord | null,
  events: readonly OutboxEvent[] = [],
): Promise<void> {
  return write(async (db) => {
    await db.query(sql.campaignInsert, [c.id, c.status, c.code, c.created_at_ms, JSON.stringify(c)]);
    await insertAudit(db, [audit]);
    await db.query(sql.envelopeInsert, [env.id, env.campaign_id, env.expires_at_ms, env.created_at_ms]);
    for (let from = 0; from < packets_minor.length; from += packetsPerInsert) {
      const chunk = packets_minor.slice(from, from + packetsPerInsert);
      await db.query(sql.packetsInsert, [env.campaign_id, chunk.map((_, i) => from + i), chunk]);
    }
    if (idem) await insertIdempotency(db, [idem]);
    const first = events[0];
    if (first) await db.query(sql.outboxInsert, [first.id, JSON.stringify(events), first.created_at_ms]);
  });
}

export async function redEnvelopeCampaignId(q: Query, envelope_id: string): Promise<string | null> {
  const row = (await q(sql.campaignOf, [envelope_id]))[0];
  return row ? String(row.campaign_id) : null;
}

export async function listRedEnvelopes(q: Query, list: ListQuery): Promise<Page<Campaign>> {
  const rows = await q(sql.list, [list.starting_after ?? null, list.limit + 1]);
  return { data: rows.slice(0, list.limit).map(campaignFromRow), has_more: rows.length > list.limit };
}

export async function dueRedEnvelopes(
  q: Query,
  now_ms: number,
  limit: number,
): Promise<Array<{ id: string; campaign_id: string }>> {
  return (await q(sql.due, [now_ms, limit])).map((r) => ({ id: String(r.id), campaign_id: String(r.campaign_id) }));
}

export async function redEnvelopeRow(q: Query, campaign_id: string): Promise<StoredRedEnvelopeRow | null> {
  const r = (await q(sql.rowOf, [campaign_id]))[0];
  if (!r) return null;
  return {
    id: String(r.id),
    campaign_id: String(r.campaign_id),
    expires_at_ms: int(r.expires_at_ms),
    created_at_ms: int(r.created_at_ms),
    settled_at_ms: intOrNull(r.settled_at_ms),
  };
}

export async function redEnvelopePackets(q: Query, campaign_id: string): Promise<PacketCheck[]> {
  return (await q(sql.checked, [campaign_id])).map((r) => ({
    ...packetFromRow(r),
    coupon_user_id: strOrNull(r.coupon_user_id),
    coupon_value_minor: intOrNull(r.coupon_value_minor),
    coupon_status: strOrNull(r.coupon_status),
  }));
}

/** Packets a batch asked for, read after the campaign row is locked. */
export async function loadPackets(
  db: Db,
  campaign_id: string,
  range: { from_idx: number; count: number },
): Promise<Map<number, EnvelopePacket>> {
  const rows = (await db.query<Row>(sql.packetsRange, [campaign_id, range.from_idx, range.from_idx + range.count]))
    .rows;
  return new Map(rows.map((r) => [int(r.idx), packetFromRow(r)]));
}

/** A batch's grabbed packets (one statement) and its settlement. */
export async function applyPacketWrites(db: Db, w: BatchWrites): Promise<void> {
  const ps = w.packets_update ?? [];
  if (ps.length > 0) {
    await db.query(sql.packetsGrab, [
      w.campaign.id,
      ps.map((p) => p.idx),
      ps.map((p) => p.grabbed_by),
      ps.map((p) => p.coupon_id),
      ps.map((p) => p.grabbed_at_ms),
    ]);
  }
  for (const op of w.bulk) {
    if (op.kind === 'settle_red_envelope') await db.query(sql.settle, [op.at_ms, w.campaign.id]);
  }
}
