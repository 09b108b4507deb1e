import type { PoolClient } from 'pg';
import type { Campaign } from '../../domain/campaign.ts';
import type { Coupon } from '../../domain/coupon.ts';
import type { Redemption } from '../../domain/redemption.ts';
import type {
  AuditEntry,
  BatchLoad,
  BatchSnapshot,
  BatchWrites,
  IdempotencyRecord,
  OutboxEvent,
  UsageKey,
} from '../port.ts';
import { applyCampaignChangeWrites, loadLiveMax } from './campaign-change.ts';
import { applyIncidentWrites, loadFences, loadPausingIncidents } from './pg-incidents.ts';
import { applyPacketWrites, loadPackets } from './red-envelopes.ts';
import {
  campaignFromRow,
  columns,
  couponCols,
  couponFromRow,
  idemFromRow,
  int,
  keyOriginFromRow,
  type Row,
  redemptionCols,
  redemptionFromRow,
} from './rows.ts';

export type Db = Pick<PoolClient, 'query'>;
/** Runs one statement and returns its rows. */
export type Query = (sql: string, params?: unknown[]) => Promise<Row[]>;

/** A Query on one connection (inside its transaction). */
export function queryOn(db: Db): Query {
  return async (sql, params) => (await db.query<Row>(sql, params)).rows;
}

const couponTypes = 'text[], text[], text[], text[], text[], text[], bigint[], bigint[], bigint[], bigint[]';
const redemptionTypes =
  'text[], text[], text[], text[], text[], text[], bigint[], text[], text[], bigint[], text[], bigint[], text[], text[], bigint[], bigint[]';

/** `INSERT INTO t (cols) SELECT * FROM unnest($1::a[], $2::b[], ...)`: one statement for any number of rows. */
function unnestInsert(table: string, cols: string, types: string): string {
  const args = types
    .split(', ')
    .map((t, i) => `$${i + 1}::${t}`)
    .join(', ');
  return `INSERT INTO ${table} (${cols}) SELECT * FROM unnest(${args})`;
}

const sql = {
  lock: 'SELECT doc FROM campaigns WHERE id = $1 FOR UPDATE',
  redemptions: `SELECT ${redemptionCols} FROM redemptions WHERE id = ANY($1::text[]) OR ($2::boolean AND campaign_id = $3 AND status = 'reserved')`,
  coupons: `SELECT ${couponCols} FROM coupons WHERE id = ANY($1::text[])`,
  usage: 'SELECT key, count FROM usage WHERE campaign_id = $1 AND key = ANY($2::text[])',
  idempotency: 'SELECT key, fingerprint, result, created_at_ms FROM idempotency WHERE key = ANY($1::text[])',
  campaignUpdate: 'UPDATE campaigns SET status = $2, code = $3, doc = $4 WHERE id = $1',
  couponsInsert: unnestInsert('coupons', couponCols, couponTypes),
  couponsUpdate: `UPDATE coupons c SET status = u.status, updated_at_ms = u.updated_at_ms
    FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(id, status, updated_at_ms) WHERE c.id = u.id`,
  redemptionsInsert: unnestInsert('redemptions', redemptionCols, redemptionTypes),
  redemptionsUpdate: `UPDATE redemptions r SET status = u.status, hold_expires_at_ms = u.hold_expires_at_ms, updated_at_ms = u.updated_at_ms
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS u(id, status, hold_expires_at_ms, updated_at_ms)
    WHERE r.id = u.id`,
  usageInsert:
    'INSERT INTO usage (campaign_id, key, count) SELECT $1, k, d FROM unnest($2::text[], $3::bigint[]) AS u(k, d)',
  usageAdd: `INSERT INTO usage (campaign_id, key, count) SELECT $1, k, d FROM unnest($2::text[], $3::bigint[]) AS u(k, d)
    ON CONFLICT (campaign_id, key) DO UPDATE SET count = usage.count + excluded.count`,
  idempotencyInsert: unnestInsert(
    'idempotency',
    'key, fingerprint, result, created_at_ms',
    'text[], text[], text[], bigint[]',
  ),
  auditInsert: unnestInsert(
    'audit',
    'chain, chain_seq, at_ms, actor, action, subject, data_json, prev_hash, hash',
    'text[], bigint[], bigint[], text[], text[], text[], text[], text[], text[]',
  ),
  outboxInsert: 'INSERT INTO outbox (id, type, data, created_at_ms) VALUES ($1, $2, $3, $4)',
  couponsRevoke:
    "UPDATE coupons SET status = 'revoked', updated_at_ms = $1 WHERE campaign_id = $2 AND status = 'active'",
} as const;

/**
 * Locks the campaign row (the one lock of a batch) and reads what the batch asked for, one query per kind.
 * `usage_absent` receives the usage keys that have no row: under the lock none can appear, so
 * applyWrites can insert them plainly.
 */
export async function loadSnapshot(
  db: Db,
  campaign_id: string,
  loadFor: (c: Campaign) => BatchLoad,
  usage_absent?: Set<UsageKey>,
): Promise<BatchSnapshot> {
  const locked = await db.query<Row>(sql.lock, [campaign_id]);
  const row = locked.rows[0];
  if (!row) throw new Error(`campaign ${campaign_id} vanished`);
  const campaign = campaignFromRow(row);
  const load = loadFor(campaign);
  const snapshot: BatchSnapshot = {
    campaign,
    coupons: new Map(),
    redemptions: new Map(),
    usage: new Map(),
    idempotency: new Map(),
  };
  const couponIds = new Set(load.coupon_ids);
  if (load.redemption_ids.length > 0 || load.all_reserved) {
    const rs = await db.query<Row>(sql.redemptions, [load.redemption_ids, load.all_reserved ?? false, campaign_id]);
    for (const r of rs.rows.map(redemptionFromRow)) {
      snapshot.redemptions.set(r.id, r);
      // The coupon of every loaded redemption comes too: releasing or reversing may return it.
      couponIds.add(r.coupon_id);
    }
  }
  if (couponIds.size > 0) {
    const cs = await db.query<Row>(sql.coupons, [[...couponIds]]);
    for (const c of cs.rows.map(couponFromRow)) snapshot.coupons.set(c.id, c);
  }
  await loadUsage(queryOn(db), campaign_id, load.usage_keys, snapshot.usage, usage_absent);
  if (load.packets) snapshot.packets = await loadPackets(db, campaign_id, load.packets);
  if (load.live_max) snapshot.live_max = await loadLiveMax(db, campaign_id);
  if (load.incidents) snapshot.incidents = await loadFences(db, campaign_id, load.incidents);
  if (load.pausing_incidents) snapshot.pausing_incidents = await loadPausingIncidents(db, campaign_id);
  if (load.subscribed_types) {
    const ws = await db.query<Row>('SELECT events FROM webhooks WHERE deleted_at_ms IS NULL');
    snapshot.subscribed_types = new Set(ws.rows.flatMap((r) => JSON.parse(String(r.events)) as string[]));
  }
  if (load.key_origins) {
    const ks = await db.query<Row>('SELECT id, created_by, replaces FROM api_keys');
    snapshot.key_origins = new Map(ks.rows.map((r) => [String(r.id), keyOriginFromRow(r)]));
  }
  if (load.idempotency_keys.length > 0) {
    const is = await db.query<Row>(sql.idempotency, [load.idempotency_keys]);
    for (const rec of is.rows.map(idemFromRow)) snapshot.idempotency.set(rec.key, rec);
  }
  return snapshot;
}

/** Fills `out` with the count of every key, 0 for keys never used; `absent`, if given, with the keys that have no row. */
export async function loadUsage(
  query: Query,
  campaign_id: string,
  keys: UsageKey[],
  out: Map<UsageKey, number>,
  absent?: Set<UsageKey>,
): Promise<void> {
  for (const key of keys) out.set(key, 0);
  if (keys.length === 0) return;
  const rows = await query(sql.usage, [campaign_id, keys]);
  for (const u of rows) out.set(String(u.key) as UsageKey, int(u.count));
  if (absent === undefined) return;
  const found = new Set(rows.map((u) => String(u.key)));
  for (const key of keys) if (!found.has(key)) absent.add(key);
}

/**
 * Writes a decided batch in bulk: at most one statement per kind of change (usage: two, see addUsage).
 * `usage_absent`: the keys loadSnapshot found without a row, under this same lock.
 */
export async function applyWrites(db: Db, w: BatchWrites, usage_absent?: ReadonlySet<UsageKey>): Promise<void> {
  const c = w.campaign;
  await db.query(sql.campaignUpdate, [c.id, c.status, c.code, JSON.stringify(c)]);
  await insertCoupons(db, w.coupons_insert);
  if (w.coupons_update.length > 0) {
    const u = w.coupons_update;
    await db.query(sql.couponsUpdate, [u.map((x) => x.id), u.map((x) => x.status), u.map((x) => x.updated_at_ms)]);
  }
  if (w.redemptions_insert.length > 0)
    await db.query(sql.redemptionsInsert, columns(w.redemptions_insert, redemptionCols));
  await updateRedemptions(db, w.redemptions_update);
  await addUsage(db, c.id, w.usage_delta, usage_absent);
  await insertIdempotency(db, w.idempotency_insert);
  await insertAudit(db, w.audit);
  await insertOutbox(db, w.outbox);
  await applyPacketWrites(db, w);
  await applyCampaignChangeWrites(db, w);
  await applyIncidentWrites(db, w);
  for (const op of w.bulk) {
    if (op.kind === 'revoke_active_coupons') await db.query(sql.couponsRevoke, [op.at_ms, c.id]);
  }
}

export async function insertCoupons(db: Db, coupons: readonly Coupon[]): Promise<void> {
  if (coupons.length > 0) await db.query(sql.couponsInsert, columns(coupons, couponCols));
}

async function updateRedemptions(db: Db, rs: readonly Redemption[]): Promise<void> {
  if (rs.length === 0) return;
  const cols = [
    rs.map((r) => r.id),
    rs.map((r) => r.status),
    rs.map((r) => r.hold_expires_at_ms),
    rs.map((r) => r.updated_at_ms),
  ];
  await db.query(sql.redemptionsUpdate, cols);
}

/**
 * Keys the snapshot found without a row (most of them: every new order is one) take a plain INSERT,
 * which costs PostgreSQL about half of an upsert's speculative insertion; the rest are upserted.
 */
async function addUsage(
  db: Db,
  campaign_id: string,
  delta: Map<UsageKey, number>,
  absent: ReadonlySet<UsageKey> = new Set(),
): Promise<void> {
  const fresh: [UsageKey, number][] = [];
  const known: [UsageKey, number][] = [];
  for (const entry of delta) if (entry[1] !== 0) (absent.has(entry[0]) ? fresh : known).push(entry);
  for (const [text, rows] of [
    [sql.usageInsert, fresh],
    [sql.usageAdd, known],
  ] as const) {
    if (rows.length > 0) await db.query(text, [campaign_id, rows.map(([k]) => k), rows.map(([, d]) => d)]);
  }
}

/** Strict insert: a key taken meanwhile by another campaign's batch fails the batch, which then retries. */
export async function insertIdempotency(db: Db, recs: readonly IdempotencyRecord[]): Promise<void> {
  if (recs.length === 0) return;
  const cols = [
    recs.map((r) => r.key),
    recs.map((r) => r.fingerprint),
    recs.map((r) => JSON.stringify(r.result)),
    recs.map((r) => r.created_at_ms),
  ];
  await db.query(sql.idempotencyInsert, cols);
}

export async function insertAudit(db: Db, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const e = entries;
  await db.query(sql.auditInsert, [
    e.map((a) => a.chain),
    e.map((a) => a.chain_seq),
    e.map((a) => a.at_ms),
    e.map((a) => a.actor),
    e.map((a) => a.action),
    e.map((a) => a.subject),
    e.map((a) => a.data_json),
    e.map((a) => a.prev_hash),
    e.map((a) => a.hash),
  ]);
}

/** A batch's events travel as one outbox row (as in SQLite); the dispatcher hands them out one by one. */
export async function insertOutbox(db: Db, events: readonly OutboxEvent[]): Promise<void> {
  const first = events[0];
  if (first) await db.query(sql.outboxInsert, [first.id, 'batch', JSON.stringify(events), first.created_at_ms]);
}
