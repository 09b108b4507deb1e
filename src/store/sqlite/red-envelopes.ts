import type Database from 'better-sqlite3';
import type { Campaign } from '../../domain/campaign.ts';
import type { AuditEntry, BatchWrites, IdempotencyRecord, ListQuery, OutboxEvent, Page } from '../port.ts';
import { UniqueViolation } from '../port.ts';
import type { EnvelopePacket, PacketCheck, RedEnvelopeRow, StoredRedEnvelopeRow } from '../port-red-envelopes.ts';

type Row = Record<string, unknown>;

const packetCols = 'campaign_id, idx, amount_minor, grabbed_by, coupon_id, grabbed_at_ms';
/** Packets per multi-row INSERT at creation: 4 parameters each, well under SQLite's bound-parameter limit. */
const packetsPerInsert = 200;

function packetFromRow(r: Row): EnvelopePacket {
  return {
    campaign_id: String(r.campaign_id),
    idx: Number(r.idx),
    amount_minor: Number(r.amount_minor),
    grabbed_by: r.grabbed_by === null ? null : String(r.grabbed_by),
    coupon_id: r.coupon_id === null ? null : String(r.coupon_id),
    grabbed_at_ms: r.grabbed_at_ms === null ? null : Number(r.grabbed_at_ms),
  };
}

/** The SQLite side of RedEnvelopeStore and of the batch's packet reads and writes. */
export class SqliteRedEnvelopes {
  private readonly stmt: ReturnType<SqliteRedEnvelopes['prepareAll']>;

  /** Prepares against the migrated schema. */
  constructor(private readonly db: Database.Database) {
    this.stmt = this.prepareAll();
  }

  private prepareAll() {
    const p = (sql: string) => this.db.prepare(sql);
    const packetRow = '(?, ?, ?, NULL, NULL, NULL)';
    return {
      campaignInsert: p('INSERT INTO campaigns (id, status, code, created_at_ms, doc) VALUES (?, ?, ?, ?, ?)'),
      auditInsert: p(
        'INSERT INTO audit (chain, chain_seq, at_ms, actor, action, subject, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      idemInsert: p('INSERT INTO idempotency (key, fingerprint, result, created_at_ms) VALUES (?, ?, ?, ?)'),
      outboxInsert: p("INSERT INTO outbox (id, type, data, created_at_ms) VALUES (?, 'batch', ?, ?)"),
      envelopeInsert: p(
        'INSERT INTO red_envelopes (id, campaign_id, expires_at_ms, created_at_ms) VALUES (?, ?, ?, ?)',
      ),
      packetInsertOne: p(`INSERT INTO red_envelope_packets (${packetCols}) VALUES ${packetRow}`),
      packetInsertMany: p(
        `INSERT INTO red_envelope_packets (${packetCols}) VALUES ${Array(packetsPerInsert).fill(packetRow).join(', ')}`,
      ),
      campaignOf: p('SELECT campaign_id FROM red_envelopes WHERE id = ?'),
      rowOf: p(
        'SELECT id, campaign_id, expires_at_ms, created_at_ms, settled_at_ms FROM red_envelopes WHERE campaign_id = ?',
      ),
      packetsRange: p(
        `SELECT ${packetCols} FROM red_envelope_packets WHERE campaign_id = ? AND idx >= ? AND idx < ? ORDER BY idx`,
      ),
      packetGrab: p(
        'UPDATE red_envelope_packets SET grabbed_by = ?, coupon_id = ?, grabbed_at_ms = ? WHERE campaign_id = ? AND idx = ?',
      ),
      settle: p('UPDATE red_envelopes SET settled_at_ms = ? WHERE campaign_id = ? AND settled_at_ms IS NULL'),
      due: p(
        'SELECT id, campaign_id FROM red_envelopes WHERE settled_at_ms IS NULL AND expires_at_ms <= ? ORDER BY expires_at_ms LIMIT ?',
      ),
      packetsChecked: p(
        `SELECT p.campaign_id, p.idx, p.amount_minor, p.grabbed_by, p.coupon_id, p.grabbed_at_ms,
          c.user_id AS coupon_user_id, c.value_minor AS coupon_value_minor, c.status AS coupon_status
        FROM red_envelope_packets p LEFT JOIN coupons c ON c.id = p.coupon_id
        WHERE p.campaign_id = ? ORDER BY p.idx`,
      ),
    };
  }

  insert(
    c: Campaign,
    audit: AuditEntry,
    env: RedEnvelopeRow,
    packets_minor: readonly number[],
    idem: IdempotencyRecord | null,
    events: readonly OutboxEvent[] = [],
  ): void {
    const s = this.stmt;
    try {
      this.db
        .transaction(() => {
          s.campaignInsert.run(c.id, c.status, c.code, c.created_at_ms, JSON.stringify(c));
          s.auditInsert.run(
            audit.chain,
            audit.chain_seq,
            audit.at_ms,
            audit.actor,
            audit.action,
            audit.subject,
            audit.data_json,
            audit.prev_hash,
            audit.hash,
          );
          s.envelopeInsert.run(env.id, env.campaign_id, env.expires_at_ms, env.created_at_ms);
          this.insertPackets(env.campaign_id, packets_minor);
          if (idem) s.idemInsert.run(idem.key, idem.fingerprint, JSON.stringify(idem.result), idem.created_at_ms);
          const first = events[0];
          if (first) s.outboxInsert.run(first.id, JSON.stringify(events), first.created_at_ms);
        })
        .immediate();
    } catch (err) {
      if (err instanceof Error && 'code' in err && String(err.code).startsWith('SQLITE_CONSTRAINT')) {
        throw new UniqueViolation(err.message);
      }
      throw err;
    }
  }

  private insertPackets(campaign_id: string, packets_minor: readonly number[]): void {
    let i = 0;
    for (; i + packetsPerInsert <= packets_minor.length; i += packetsPerInsert) {
      const args: unknown[] = [];
      for (let j = i; j < i + packetsPerInsert; j++) args.push(campaign_id, j, packets_minor[j]);
      this.stmt.packetInsertMany.run(args);
    }
    for (; i < packets_minor.length; i++) this.stmt.packetInsertOne.run(campaign_id, i, packets_minor[i]);
  }

  campaignId(envelope_id: string): string | null {
    const row = this.stmt.campaignOf.get(envelope_id) as Row | undefined;
    return row ? String(row.campaign_id) : null;
  }

  list(q: ListQuery): Page<Campaign> {
    const after = q.starting_after === undefined ? '' : 'WHERE e.id < ?';
    const sql = `SELECT c.doc FROM red_envelopes e JOIN campaigns c ON c.id = e.campaign_id ${after} ORDER BY e.id DESC LIMIT ?`;
    const args = q.starting_after === undefined ? [q.limit + 1] : [q.starting_after, q.limit + 1];
    const rows = this.db.prepare(sql).all(...args) as Row[];
    return {
      data: rows.slice(0, q.limit).map((r) => JSON.parse(String(r.doc)) as Campaign),
      has_more: rows.length > q.limit,
    };
  }

  due(now_ms: number, limit: number): Array<{ id: string; campaign_id: string }> {
    return (this.stmt.due.all(now_ms, limit) as Row[]).map((r) => ({
      id: String(r.id),
      campaign_id: String(r.campaign_id),
    }));
  }

  row(campaign_id: string): StoredRedEnvelopeRow | null {
    const r = this.stmt.rowOf.get(campaign_id) as Row | undefined;
    if (!r) return null;
    return {
      id: String(r.id),
      campaign_id: String(r.campaign_id),
      expires_at_ms: Number(r.expires_at_ms),
      created_at_ms: Number(r.created_at_ms),
      settled_at_ms: r.settled_at_ms === null ? null : Number(r.settled_at_ms),
    };
  }

  checked(campaign_id: string): PacketCheck[] {
    return (this.stmt.packetsChecked.all(campaign_id) as Row[]).map((r) => ({
      ...packetFromRow(r),
      coupon_user_id: r.coupon_user_id === null ? null : String(r.coupon_user_id),
      coupon_value_minor: r.coupon_value_minor === null ? null : Number(r.coupon_value_minor),
      coupon_status: r.coupon_status === null ? null : String(r.coupon_status),
    }));
  }

  /** Packets a batch asked for, inside its transaction. */
  packets(campaign_id: string, range: { from_idx: number; count: number }): Map<number, EnvelopePacket> {
    const rows = this.stmt.packetsRange.all(campaign_id, range.from_idx, range.from_idx + range.count) as Row[];
    return new Map(rows.map((r) => [Number(r.idx), packetFromRow(r)]));
  }

  /** A batch's packet writes and its settlement, inside its transaction. */
  applyWrites(w: BatchWrites): void {
    for (const p of w.packets_update ?? []) {
      this.stmt.packetGrab.run(p.grabbed_by, p.coupon_id, p.grabbed_at_ms, p.campaign_id, p.idx);
    }
    for (const op of w.bulk) {
      if (op.kind === 'settle_red_envelope') this.stmt.settle.run(op.at_ms, w.campaign.id);
    }
  }
}
