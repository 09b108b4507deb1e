import { limits } from '../../config/limits.ts';
import type { ListQuery, Page } from '../port.ts';
import type { ChainHeadRef } from '../port-audit.ts';
import type { DeliveryAttempt, DeliveryRecord, FanOut, MakePlatformAudit, WebhookRecord } from '../port-events.ts';
import type { Db, Query } from './pg-batch.ts';
import { type Write, withPlatformAudit } from './pg-platform.ts';
import { int, intOrNull, outboxFromRow, type Row } from './rows.ts';

const deliveryCols =
  'webhook_id, event_id, event_type, payload, attempt, status, status_code, error, next_attempt_at_ms, created_at_ms, updated_at_ms';

const sql = {
  webhookInsert:
    'INSERT INTO webhooks (id, url, events, secret, created_at_ms, deleted_at_ms) VALUES ($1, $2, $3, $4, $5, $6)',
  liveCount: 'SELECT count(*) AS n FROM webhooks WHERE deleted_at_ms IS NULL',
  webhookDelete: 'UPDATE webhooks SET deleted_at_ms = $1 WHERE id = $2 AND deleted_at_ms IS NULL',
  cancelPending: `UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at_ms = NULL, updated_at_ms = $1
    WHERE webhook_id = $2 AND status = 'pending'`,
  // Rows another node is relaying are skipped, not waited for. Of the rows locked, those whose events
  // (a batch's array) fit in $2 are read, the first always; the others stay pending.
  pending: `WITH locked AS (
      SELECT id, created_at_ms,
        CASE WHEN type = 'batch' AND left(data, 1) = '[' THEN greatest(1, json_array_length(data::json)) ELSE 1 END AS n
      FROM outbox WHERE dispatched_at_ms IS NULL
      ORDER BY created_at_ms, id LIMIT $1 FOR UPDATE SKIP LOCKED),
    sized AS (SELECT id, n, sum(n) OVER (ORDER BY created_at_ms, id) AS upto FROM locked)
    SELECT o.id, o.type, o.data, o.created_at_ms FROM sized s JOIN outbox o ON o.id = s.id
    WHERE s.upto <= $2 OR s.upto = s.n
    ORDER BY o.created_at_ms, o.id`,
  markDispatched: 'UPDATE outbox SET dispatched_at_ms = $1 WHERE id = ANY($2::text[])',
  deliveriesInsert: `INSERT INTO webhook_deliveries (${deliveryCols})
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::int[], $8::text[],
      $9::bigint[], $10::bigint[], $11::bigint[])
    ON CONFLICT DO NOTHING`,
  // One statement: the due rows are locked (others skip them) and leased before the lock goes.
  claim: `UPDATE webhook_deliveries d SET next_attempt_at_ms = $2
    FROM (SELECT webhook_id, event_id FROM webhook_deliveries
          WHERE status = 'pending' AND next_attempt_at_ms <= $1 AND NOT (webhook_id = ANY($4::text[]))
          ORDER BY next_attempt_at_ms LIMIT $3 FOR UPDATE SKIP LOCKED) due
    WHERE d.webhook_id = due.webhook_id AND d.event_id = due.event_id
    RETURNING d.*`,
  attempt: `UPDATE webhook_deliveries SET attempt = $1, status = $2, status_code = $3, error = $4,
    next_attempt_at_ms = $5, updated_at_ms = $6
    WHERE webhook_id = $7 AND event_id = $8 AND status = 'pending' AND attempt = $9`,
  list: `SELECT ${deliveryCols} FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::text IS NULL OR event_id < $2)
    ORDER BY event_id DESC LIMIT $3`,
  webhooks: `SELECT * FROM webhooks WHERE deleted_at_ms IS NULL AND ($1::text IS NULL OR id < $1)
    ORDER BY id DESC LIMIT $2`,
} as const;

const webhooksFull = new Error('webhooks_max live webhooks');

/** The webhook only while fewer than limits.webhooks_max are live, checked under the platform chain's lock. */
export async function insertWebhook(write: Write, w: WebhookRecord, audit: MakePlatformAudit): Promise<boolean> {
  const args = [w.id, w.url, JSON.stringify(w.events), w.secret, w.created_at_ms, w.deleted_at_ms];
  try {
    await withPlatformAudit(write, audit, async (db) => {
      const live = (await db.query<Row>(sql.liveCount)).rows[0];
      if (Number(live?.n ?? 0) >= limits.webhooks_max) throw webhooksFull;
      await db.query(sql.webhookInsert, args);
    });
    return true;
  } catch (err) {
    if (err === webhooksFull) return false;
    throw err;
  }
}

export async function deleteWebhook(
  write: Write,
  id: string,
  at_ms: number,
  audit: MakePlatformAudit,
): Promise<boolean> {
  const body = async (db: Db) => {
    const deleted = ((await db.query(sql.webhookDelete, [at_ms, id])).rowCount ?? 0) > 0;
    if (deleted) await db.query(sql.cancelPending, [at_ms, id]);
    return deleted;
  };
  return (await withPlatformAudit(write, audit, body)).value;
}

export async function getWebhook(q: Query, id: string): Promise<WebhookRecord | null> {
  const row = (await q('SELECT * FROM webhooks WHERE id = $1', [id]))[0];
  return row ? webhookFromRow(row) : null;
}

export async function listWebhooks(q: Query, list: ListQuery): Promise<Page<WebhookRecord>> {
  const rows = await q(sql.webhooks, [list.starting_after ?? null, list.limit + 1]);
  return { data: rows.slice(0, list.limit).map(webhookFromRow), has_more: rows.length > list.limit };
}

export async function liveWebhooks(q: Query, limit: number): Promise<WebhookRecord[]> {
  return (await q(sql.webhooks, [null, limit])).map(webhookFromRow);
}

export function relayOutbox(
  write: Write,
  limit: number,
  at_ms: number,
  fan: FanOut,
  events_max = Number.MAX_SAFE_INTEGER,
): Promise<number> {
  return write(async (db) => {
    const rows = (await db.query<Row>(sql.pending, [limit, events_max])).rows.map(outboxFromRow);
    if (rows.length === 0) return 0;
    // Read after the rows: a webhook committed before any of these events is seen.
    const hooks = (await db.query<Row>(sql.webhooks, [null, limits.webhooks_max])).rows.map(webhookFromRow);
    await insertDeliveries(db, fan(rows, hooks));
    await db.query(sql.markDispatched, [at_ms, rows.map((r) => r.id)]);
    return rows.length;
  });
}

async function insertDeliveries(db: Db, ds: readonly DeliveryRecord[]): Promise<void> {
  if (ds.length === 0) return;
  const names = deliveryCols.split(', ') as Array<keyof DeliveryRecord>;
  await db.query(
    sql.deliveriesInsert,
    names.map((n) => ds.map((d) => d[n])),
  );
}

export async function claimDeliveries(
  q: Query,
  now_ms: number,
  lease_until_ms: number,
  limit: number,
  skip: readonly string[] = [],
): Promise<DeliveryRecord[]> {
  return (await q(sql.claim, [now_ms, lease_until_ms, limit, skip])).map(deliveryFromRow);
}

export async function recordAttempt(q: Query, a: DeliveryAttempt): Promise<void> {
  await q(sql.attempt, [
    a.attempt,
    a.status,
    a.status_code,
    a.error,
    a.next_attempt_at_ms,
    a.at_ms,
    a.webhook_id,
    a.event_id,
    a.attempt - 1,
  ]);
}

export async function listDeliveries(q: Query, webhook_id: string, list: ListQuery): Promise<Page<DeliveryRecord>> {
  const rows = await q(sql.list, [webhook_id, list.starting_after ?? null, list.limit + 1]);
  return { data: rows.slice(0, list.limit).map(deliveryFromRow), has_more: rows.length > list.limit };
}

export function pruneEvents(write: Write, before_ms: number): Promise<number> {
  return write(async (db) => {
    const a = await db.query("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND updated_at_ms < $1", [
      before_ms,
    ]);
    const b = await db.query('DELETE FROM outbox WHERE dispatched_at_ms IS NOT NULL AND dispatched_at_ms < $1', [
      before_ms,
    ]);
    return (a.rowCount ?? 0) + (b.rowCount ?? 0);
  });
}

export async function platformAuditHead(q: Query): Promise<{ seq: number; hash: string } | null> {
  const row = (await q("SELECT seq, hash FROM audit_heads WHERE chain = 'platform'"))[0];
  return row ? { seq: int(row.seq), hash: String(row.hash) } : null;
}

/** Store.auditHeads: one statement, so one snapshot of every campaign row and the platform head. */
export async function auditHeads(q: Query): Promise<ChainHeadRef[]> {
  const rows = await q(
    `SELECT id AS chain, d->>'audit_seq' AS chain_seq, d->>'audit_head' AS hash
      FROM campaigns, LATERAL (SELECT doc::json AS d) j
    UNION ALL SELECT chain, seq::text, hash FROM audit_heads WHERE chain = 'platform'`,
  );
  return rows.map((r) => ({ chain: String(r.chain), chain_seq: int(r.chain_seq), hash: String(r.hash) }));
}

function webhookFromRow(r: Row): WebhookRecord {
  return {
    id: String(r.id),
    url: String(r.url),
    events: JSON.parse(String(r.events)) as string[],
    secret: String(r.secret),
    created_at_ms: int(r.created_at_ms),
    deleted_at_ms: intOrNull(r.deleted_at_ms),
  };
}

function deliveryFromRow(r: Row): DeliveryRecord {
  return {
    webhook_id: String(r.webhook_id),
    event_id: String(r.event_id),
    event_type: String(r.event_type),
    payload: String(r.payload),
    attempt: int(r.attempt),
    status: String(r.status) as DeliveryRecord['status'],
    status_code: intOrNull(r.status_code),
    error: r.error === null ? null : String(r.error),
    next_attempt_at_ms: intOrNull(r.next_attempt_at_ms),
    created_at_ms: int(r.created_at_ms),
    updated_at_ms: int(r.updated_at_ms),
  };
}
