import type Database from 'better-sqlite3';
import { limits } from '../../config/limits.ts';
import type { ListQuery, OutboxEvent, Page } from '../port.ts';
import type { DeliveryAttempt, DeliveryRecord, FanOut, MakePlatformAudit, WebhookRecord } from '../port-events.ts';

type Row = Record<string, unknown>;
/** The adapter's platform-audit transaction: runs `body`, then appends the entry `make` links. */
export type WithPlatformAudit = <T>(make: MakePlatformAudit, body: () => T) => { value: T };

const deliveryCols =
  'webhook_id, event_id, event_type, payload, attempt, status, status_code, error, next_attempt_at_ms, created_at_ms, updated_at_ms';

/** Webhooks, deliveries and the outbox relay on SQLite: one process, so a plain transaction claims. */
export class SqliteEvents {
  private readonly stmt;

  constructor(
    private readonly db: Database.Database,
    private readonly withAudit: WithPlatformAudit,
  ) {
    const p = (sql: string) => db.prepare(sql);
    this.stmt = {
      webhookInsert: p(
        'INSERT INTO webhooks (id, url, events, secret, created_at_ms, deleted_at_ms) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      webhookGet: p('SELECT * FROM webhooks WHERE id = ?'),
      webhookDelete: p('UPDATE webhooks SET deleted_at_ms = ? WHERE id = ? AND deleted_at_ms IS NULL'),
      cancelPending: p(
        "UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at_ms = NULL, updated_at_ms = ? WHERE webhook_id = ? AND status = 'pending'",
      ),
      liveCount: p('SELECT count(*) AS n FROM webhooks WHERE deleted_at_ms IS NULL'),
      live: p('SELECT * FROM webhooks WHERE deleted_at_ms IS NULL ORDER BY id DESC LIMIT ?'),
      // n: the row's events (a batch's array), counted only for the rows the relay steps through.
      pending: p(
        `SELECT id, type, data, created_at_ms,
           CASE WHEN type = 'batch' AND substr(data, 1, 1) = '[' THEN max(1, json_array_length(data)) ELSE 1 END AS n
         FROM outbox WHERE dispatched_at_ms IS NULL ORDER BY created_at_ms, id LIMIT ?`,
      ),
      markDispatched: p('UPDATE outbox SET dispatched_at_ms = ? WHERE id = ? AND dispatched_at_ms IS NULL'),
      outboxInsert: p("INSERT INTO outbox (id, type, data, created_at_ms) VALUES (?, 'batch', ?, ?)"),
      deliveryInsert: p(
        `INSERT INTO webhook_deliveries (${deliveryCols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      due: p(
        `SELECT ${deliveryCols} FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at_ms <= ?
         AND webhook_id NOT IN (SELECT value FROM json_each(?)) ORDER BY next_attempt_at_ms LIMIT ?`,
      ),
      lease: p('UPDATE webhook_deliveries SET next_attempt_at_ms = ? WHERE webhook_id = ? AND event_id = ?'),
      attempt: p(
        `UPDATE webhook_deliveries SET attempt = ?, status = ?, status_code = ?, error = ?, next_attempt_at_ms = ?, updated_at_ms = ?
         WHERE webhook_id = ? AND event_id = ? AND status = 'pending' AND attempt = ?`,
      ),
      pruneDeliveries: p("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND updated_at_ms < ?"),
      pruneOutbox: p('DELETE FROM outbox WHERE dispatched_at_ms IS NOT NULL AND dispatched_at_ms < ?'),
    };
  }

  /** The webhook only while fewer than limits.webhooks_max are live, checked in the insert's transaction. */
  insertWebhook(w: WebhookRecord, audit: MakePlatformAudit): boolean {
    const full = new Error('webhooks_max live webhooks');
    try {
      this.withAudit(audit, () => {
        if ((this.stmt.liveCount.get() as { n: number }).n >= limits.webhooks_max) throw full;
        this.stmt.webhookInsert.run(w.id, w.url, JSON.stringify(w.events), w.secret, w.created_at_ms, w.deleted_at_ms);
      });
      return true;
    } catch (err) {
      if (err === full) return false;
      throw err;
    }
  }

  deleteWebhook(id: string, at_ms: number, audit: MakePlatformAudit): boolean {
    return this.withAudit(audit, () => {
      const deleted = this.stmt.webhookDelete.run(at_ms, id).changes > 0;
      if (deleted) this.stmt.cancelPending.run(at_ms, id);
      return deleted;
    }).value;
  }

  getWebhook(id: string): WebhookRecord | null {
    const row = this.stmt.webhookGet.get(id) as Row | undefined;
    return row ? webhookFromRow(row) : null;
  }

  listWebhooks(q: ListQuery): Page<WebhookRecord> {
    const after = q.starting_after ?? null;
    const sql = 'SELECT * FROM webhooks WHERE deleted_at_ms IS NULL AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?';
    const rows = this.db.prepare(sql).all(after, after, q.limit + 1) as Row[];
    return { data: rows.slice(0, q.limit).map(webhookFromRow), has_more: rows.length > q.limit };
  }

  liveWebhooks(limit: number): WebhookRecord[] {
    return (this.stmt.live.all(limit) as Row[]).map(webhookFromRow);
  }

  relayOutbox(limit: number, at_ms: number, fan: FanOut, events_max = Number.MAX_SAFE_INTEGER): number {
    return this.db
      .transaction(() => {
        const rows = this.pendingRows(limit, events_max).map(outboxFromRow);
        if (rows.length === 0) return 0;
        // Read after the rows: a webhook committed before any of these events is seen.
        const hooks = this.liveWebhooks(limits.webhooks_max);
        for (const d of fan(rows, hooks)) this.stmt.deliveryInsert.run(deliveryValues(d));
        for (const r of rows) this.stmt.markDispatched.run(at_ms, r.id);
        return rows.length;
      })
      .immediate();
  }

  /** The oldest pending rows while their events fit in events_max (the first always); stops reading there. */
  private pendingRows(limit: number, events_max: number): Row[] {
    const rows: Row[] = [];
    let events = 0;
    for (const row of this.stmt.pending.iterate(limit) as IterableIterator<Row>) {
      events += Number(row.n);
      if (rows.length > 0 && events > events_max) break;
      rows.push(row);
    }
    return rows;
  }

  insertEvents(events: OutboxEvent[]): void {
    const first = events[0];
    if (first) this.stmt.outboxInsert.run(first.id, JSON.stringify(events), first.created_at_ms);
  }

  claimDeliveries(
    now_ms: number,
    lease_until_ms: number,
    limit: number,
    skip: readonly string[] = [],
  ): DeliveryRecord[] {
    return this.db
      .transaction(() => {
        const due = (this.stmt.due.all(now_ms, JSON.stringify(skip), limit) as Row[]).map(deliveryFromRow);
        for (const d of due) {
          this.stmt.lease.run(lease_until_ms, d.webhook_id, d.event_id);
          d.next_attempt_at_ms = lease_until_ms;
        }
        return due;
      })
      .immediate();
  }

  recordAttempt(a: DeliveryAttempt): void {
    this.stmt.attempt.run(
      a.attempt,
      a.status,
      a.status_code,
      a.error,
      a.next_attempt_at_ms,
      a.at_ms,
      a.webhook_id,
      a.event_id,
      a.attempt - 1,
    );
  }

  listDeliveries(webhook_id: string, q: ListQuery): Page<DeliveryRecord> {
    const after = q.starting_after ?? null;
    const sql = `SELECT ${deliveryCols} FROM webhook_deliveries WHERE webhook_id = ? AND (? IS NULL OR event_id < ?)
      ORDER BY event_id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(webhook_id, after, after, q.limit + 1) as Row[];
    return { data: rows.slice(0, q.limit).map(deliveryFromRow), has_more: rows.length > q.limit };
  }

  pruneEvents(before_ms: number): number {
    return this.db.transaction(
      () => this.stmt.pruneDeliveries.run(before_ms).changes + this.stmt.pruneOutbox.run(before_ms).changes,
    )();
  }
}

function webhookFromRow(r: Row): WebhookRecord {
  return {
    id: String(r.id),
    url: String(r.url),
    events: JSON.parse(String(r.events)) as string[],
    secret: String(r.secret),
    created_at_ms: Number(r.created_at_ms),
    deleted_at_ms: r.deleted_at_ms === null ? null : Number(r.deleted_at_ms),
  };
}

function outboxFromRow(r: Row): OutboxEvent {
  return {
    id: String(r.id),
    type: String(r.type),
    created_at_ms: Number(r.created_at_ms),
    data: JSON.parse(String(r.data)),
  };
}

function deliveryValues(d: DeliveryRecord): unknown[] {
  return [
    d.webhook_id,
    d.event_id,
    d.event_type,
    d.payload,
    d.attempt,
    d.status,
    d.status_code,
    d.error,
    d.next_attempt_at_ms,
    d.created_at_ms,
    d.updated_at_ms,
  ];
}

function deliveryFromRow(r: Row): DeliveryRecord {
  return {
    webhook_id: String(r.webhook_id),
    event_id: String(r.event_id),
    event_type: String(r.event_type),
    payload: String(r.payload),
    attempt: Number(r.attempt),
    status: String(r.status) as DeliveryRecord['status'],
    status_code: r.status_code === null ? null : Number(r.status_code),
    error: r.error === null ? null : String(r.error),
    next_attempt_at_ms: r.next_attempt_at_ms === null ? null : Number(r.next_attempt_at_ms),
    created_at_ms: Number(r.created_at_ms),
    updated_at_ms: Number(r.updated_at_ms),
  };
}
