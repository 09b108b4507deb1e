import type { Incident } from '../domain/incident.ts';
import type { Redemption } from '../domain/redemption.ts';
import { incidentView } from '../http/incident-views.ts';
import { formatTimestamp } from '../http/time.ts';
import { redemptionView } from '../http/views.ts';
import type { OutboxEvent } from '../store/port.ts';

/** Nesting deeper than this is passed through as is (event data is shallow; this only bounds recursion). */
const depth_max = 8;

/** An incident scope's window (`from_ms`, `to_ms`) is `from` / `to` on the wire, as its HTTP view shows it. */
const windowKeys: Readonly<Record<string, string>> = { from_ms: 'from', to_ms: 'to' };

/** The wire name of an internal time key (`*_at_ms` -> `*_at`, a window bound), or null for any other key. */
function timeKeyOf(k: string): string | null {
  if (k.endsWith('_at_ms')) return k.slice(0, -3);
  return Object.hasOwn(windowKeys, k) ? (windowKeys[k] ?? null) : null;
}

/** Internal times in epoch ms become RFC 3339 strings, as everywhere on the wire (see timeKeyOf). */
export function wireData(value: unknown, depth = 0): unknown {
  if (depth > depth_max || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => wireData(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const wire_key = timeKeyOf(k);
    if (wire_key !== null && (typeof v === 'number' || v === null)) {
      out[wire_key] = v === null ? null : formatTimestamp(v);
    } else {
      out[k] = wireData(v, depth + 1);
    }
  }
  return out;
}

/**
 * A redemption event's data is the redemption as `GET /v1/redemptions/{id}` shows it (as Stripe's
 * `data.object` is the API resource), with the incident that moved it when one did: one parser
 * serves both, and what the API keeps to itself (the shopper's device and IP) stays out of webhooks.
 */
function redemptionData(data: unknown): unknown {
  const { incident_id, ...r } = data as Redemption & { incident_id?: string };
  return { ...redemptionView(r), ...(incident_id === undefined ? {} : { incident_id }) };
}

/**
 * An event's data on the wire: a redemption's or an incident's is the resource as its GET shows it
 * (an incident's without the opener's key id and the engine's work state, as `GET /v1/incidents/{id}`);
 * others have their times in RFC 3339 (wireData).
 */
function eventData(evt: OutboxEvent): unknown {
  if (evt.type.startsWith('redemption.')) return redemptionData(evt.data);
  if (evt.type.startsWith('incident.')) return incidentView(evt.data as Incident);
  return wireData(evt.data);
}

/** The exact body every delivery of an event sends: `{id, type, created_at, data}`. */
export function eventPayload(evt: OutboxEvent): string {
  return JSON.stringify({
    id: evt.id,
    type: evt.type,
    created_at: formatTimestamp(evt.created_at_ms),
    data: eventData(evt),
  });
}

/** The events in outbox rows: an adapter may pack a batch's events into one row of type `batch`. */
export function unpackOutbox(rows: readonly OutboxEvent[]): OutboxEvent[] {
  return rows.flatMap((row) => (row.type === 'batch' && Array.isArray(row.data) ? (row.data as OutboxEvent[]) : [row]));
}
