import type { Static } from '@sinclair/typebox';
import type { AuditEntry } from '../store/port.ts';
import type { DeliveryRecord, WebhookRecord } from '../store/port-events.ts';
import type { AuditEntryView, DeliveryView, WebhookView } from './event-schemas.ts';
import { formatNullableTimestamp, formatTimestamp } from './time.ts';

/** The stored text is what was hashed; text that no longer parses (tampered) is shown as is. */
function parsed(data_json: string): unknown {
  try {
    return JSON.parse(data_json);
  } catch {
    return data_json;
  }
}

export function auditEntryView(e: AuditEntry & { seq: number }): Static<typeof AuditEntryView> {
  return {
    seq: e.seq,
    chain: e.chain,
    chain_seq: e.chain_seq,
    at: formatTimestamp(e.at_ms),
    actor: e.actor,
    action: e.action,
    subject: e.subject,
    data: parsed(e.data_json),
    prev_hash: e.prev_hash,
    hash: e.hash,
  };
}

/** Never the secret: it is shown once, in the create answer. */
export function webhookView(w: WebhookRecord): Static<typeof WebhookView> {
  return { id: w.id, url: w.url, events: w.events, created_at: formatTimestamp(w.created_at_ms) };
}

export function deliveryView(d: DeliveryRecord): Static<typeof DeliveryView> {
  return {
    event_id: d.event_id,
    webhook_id: d.webhook_id,
    event_type: d.event_type,
    status: d.status,
    attempt: d.attempt,
    status_code: d.status_code,
    error: d.error,
    next_attempt_at: formatNullableTimestamp(d.next_attempt_at_ms),
    created_at: formatTimestamp(d.created_at_ms),
    updated_at: formatTimestamp(d.updated_at_ms),
  };
}
