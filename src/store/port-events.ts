import type { AuditEntry, ListQuery, OutboxEvent, Page } from './port.ts';

/** Makes the platform audit entry of a change, linked after the chain's current head. */
export type MakePlatformAudit = (prev: { seq: number; hash: string }) => AuditEntry;

/** A webhook endpoint. The secret signs deliveries; it is shown to the client once, at creation. */
export interface WebhookRecord {
  id: string;
  url: string;
  events: string[];
  secret: string;
  created_at_ms: number;
  deleted_at_ms: number | null;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'cancelled';

/**
 * One event for one target (a webhook id, or `nats`): the job and its latest attempt.
 * `payload` is the exact body sent on every attempt.
 */
export interface DeliveryRecord {
  event_id: string;
  webhook_id: string;
  event_type: string;
  payload: string;
  /** Attempts made so far. */
  attempt: number;
  status: DeliveryStatus;
  status_code: number | null;
  error: string | null;
  /** When the next attempt is due (also a claim's lease end); null once settled. */
  next_attempt_at_ms: number | null;
  created_at_ms: number;
  updated_at_ms: number;
}

/** The outcome of one attempt, written back by the node that claimed the delivery. */
export interface DeliveryAttempt {
  event_id: string;
  webhook_id: string;
  attempt: number;
  status: DeliveryStatus;
  status_code: number | null;
  error: string | null;
  next_attempt_at_ms: number | null;
  at_ms: number;
}

/**
 * Turns claimed outbox rows into deliveries for the live webhooks; pure, so a relay may run it
 * inside its transaction. The webhooks are read after the rows, so every webhook made before an
 * event was committed is among them.
 */
export type FanOut = (rows: OutboxEvent[], hooks: WebhookRecord[]) => DeliveryRecord[];

/** Webhooks, their delivery queue and log, and the outbox relay. */
export interface EventStore {
  /**
   * Inserts a webhook with its platform audit entry, in one transaction, only while fewer than
   * limits.webhooks_max are live: checked in that transaction, ordered with every other webhook
   * insert (the platform chain's lock), so webhooks created at once on several nodes never pass it.
   * False, and nothing written, when the bound is reached.
   */
  insertWebhook(w: WebhookRecord, audit: MakePlatformAudit): Promise<boolean>;
  /** Marks a webhook deleted and cancels its pending deliveries, audited; false when it was not live. */
  deleteWebhook(id: string, at_ms: number, audit: MakePlatformAudit): Promise<boolean>;
  /** A webhook, deleted or not. */
  getWebhook(id: string): Promise<WebhookRecord | null>;
  /** Live webhooks, newest first. */
  listWebhooks(q: ListQuery): Promise<Page<WebhookRecord>>;
  /** Every live webhook (bounded by limits.webhooks_max), for routing and subscriptions. */
  liveWebhooks(): Promise<WebhookRecord[]>;
  /**
   * Takes up to `limit` pending outbox rows, oldest first (rows another node holds are skipped), and
   * of those only as many as hold at most `events_max` events (the first row always: a batch packs
   * its events into one row), then reads the live webhooks, lets `fan` expand the rows for them,
   * inserts the deliveries (a delivery that exists is kept as it is) and marks the rows dispatched,
   * all in one transaction; returns how many rows it took.
   */
  relayOutbox(limit: number, at_ms: number, fan: FanOut, events_max?: number): Promise<number>;
  /**
   * Writes events made outside any campaign batch (the periodic audit digest) to the outbox, as
   * one row the relay hands out one by one, like a batch's.
   */
  insertEvents(events: OutboxEvent[]): Promise<void>;
  /**
   * Claims due pending deliveries, oldest due first, by pushing their next attempt to
   * `lease_until_ms`; one node gets each. Deliveries to the targets in `skip` (webhook ids, or the
   * NATS target) are left for a later claim.
   */
  claimDeliveries(
    now_ms: number,
    lease_until_ms: number,
    limit: number,
    skip?: readonly string[],
  ): Promise<DeliveryRecord[]>;
  /** Writes an attempt's outcome unless the delivery moved on meanwhile (settled, or attempted by another node). */
  recordAttempt(a: DeliveryAttempt): Promise<void>;
  /** Deliveries of one webhook, newest event first; `starting_after` is an event id. */
  listDeliveries(webhook_id: string, q: ListQuery): Promise<Page<DeliveryRecord>>;
  /** Deletes settled deliveries and dispatched outbox rows older than `before_ms`; returns rows deleted. */
  pruneEvents(before_ms: number): Promise<number>;
}
