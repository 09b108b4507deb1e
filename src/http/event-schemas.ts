import { Type } from '@sinclair/typebox';
import { limits } from '../config/limits.ts';
import { eventTypes } from '../events/event-types.ts';
import { Body, listFields, Nullable, pageLimit, Query } from './schemas.ts';

export const AuditListQuery = Query({
  limit: pageLimit,
  starting_after: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'a seq from the last page' })),
});

export const AuditEntryView = Type.Object({
  seq: Type.Integer({ description: 'global order of the audit log' }),
  chain: Type.String({ description: 'a campaign id, or "platform"' }),
  chain_seq: Type.Integer(),
  at: Type.String(),
  actor: Nullable(Type.String()),
  action: Type.String(),
  subject: Type.String(),
  data: Type.Unknown({ description: 'parsed from the stored, hashed JSON text' }),
  prev_hash: Type.String(),
  hash: Type.String(),
});

export const AuditVerifyView = Type.Object({
  ok: Type.Boolean(),
  entries: Type.Integer(),
  chains: Type.Integer(),
  first_bad_seq: Nullable(Type.Integer()),
  bad_chain: Nullable(Type.String()),
});

const sha256Hex = (description?: string) =>
  Type.String({ pattern: '^[0-9a-f]{64}$', ...(description ? { description } : {}) });

/** engine/audit-digest.ts: what GET /v1/audit/digest answers and `vouchsafe verify --digest` reads back. */
export const AuditDigestView = Type.Object(
  {
    object: Type.Literal('audit_digest'),
    created_at: Type.String({ description: 'ISO 8601, when the heads were read' }),
    digest: sha256Hex(
      'sha256 over "vouchsafe audit digest 1\\n", created_at and "\\n", then the heads, each "chain chain_seq hash\\n", in chain order',
    ),
    chains: Type.Integer({ minimum: 0 }),
    heads: Type.Array(
      Type.Object(
        {
          chain: Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' }),
          chain_seq: Type.Integer({ minimum: 1 }),
          hash: sha256Hex(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const EventType = Type.Union(eventTypes.map((t) => Type.Literal(t)));

export const WebhookCreate = Body({
  url: Type.String({ minLength: 1, maxLength: limits.webhook_url_chars_max, description: 'http(s) URL' }),
  events: Type.Array(EventType, { minItems: 1, maxItems: eventTypes.length, uniqueItems: true }),
});

export const WebhookView = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  created_at: Type.String(),
});

export const WebhookCreatedView = Type.Object({
  ...WebhookView.properties,
  secret: Type.String({ description: 'signs deliveries; shown only in this answer' }),
});

export const WebhookDeletedView = Type.Object({ id: Type.String(), deleted: Type.Literal(true) });

export const DeliveryListQuery = Query(listFields('evt'));

export const DeliveryView = Type.Object({
  event_id: Type.String(),
  webhook_id: Type.String(),
  event_type: Type.String(),
  status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('delivered'),
    Type.Literal('failed'),
    Type.Literal('cancelled'),
  ]),
  attempt: Type.Integer({ description: 'attempts made so far' }),
  status_code: Nullable(Type.Integer({ description: 'HTTP status of the last attempt' })),
  error: Nullable(Type.String()),
  next_attempt_at: Nullable(Type.String()),
  created_at: Type.String(),
  updated_at: Type.String(),
});
