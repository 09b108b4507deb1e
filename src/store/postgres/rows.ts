import type { Campaign } from '../../domain/campaign.ts';
import type { Coupon } from '../../domain/coupon.ts';
import { assert } from '../../domain/errors.ts';
import type { KeyOrigin } from '../../domain/key-lineage.ts';
import type { Redemption, RedemptionStatus } from '../../domain/redemption.ts';
import type { ApiKeyRecord, AuditEntry, IdempotencyRecord, OutboxEvent } from '../port.ts';

/** A row as node-postgres returns it: BIGINT, COUNT and SUM arrive as strings. */
export type Row = Record<string, unknown>;

export const couponCols =
  'id, campaign_id, user_id, code, kind, status, expires_at_ms, created_at_ms, updated_at_ms, value_minor';
export const redemptionCols =
  'id, campaign_id, coupon_id, user_id, merchant_id, order_id, order_amount_minor, currency, product_kind, discount_minor, status, hold_expires_at_ms, device_id, ip, created_at_ms, updated_at_ms';

/** Parses an int8 / numeric value; money must stay exact, so anything unsafe is a bug. */
export function int(v: unknown): number {
  const n = typeof v === 'number' ? v : Number(v);
  assert(Number.isSafeInteger(n), `not a safe integer from the database: ${String(v)}`);
  return n;
}

export function intOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : int(v);
}

function str(v: unknown): string {
  assert(typeof v === 'string', `expected a string column, got ${typeof v}`);
  return v;
}

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : str(v);
}

export function campaignFromRow(r: Row): Campaign {
  return JSON.parse(str(r.doc)) as Campaign;
}

export function couponFromRow(r: Row): Coupon {
  return {
    id: str(r.id),
    campaign_id: str(r.campaign_id),
    user_id: strOrNull(r.user_id),
    code: str(r.code),
    kind: str(r.kind) as Coupon['kind'],
    status: str(r.status) as Coupon['status'],
    expires_at_ms: int(r.expires_at_ms),
    created_at_ms: int(r.created_at_ms),
    updated_at_ms: int(r.updated_at_ms),
    value_minor: intOrNull(r.value_minor),
  };
}

export function redemptionFromRow(r: Row): Redemption {
  return {
    id: str(r.id),
    campaign_id: str(r.campaign_id),
    coupon_id: str(r.coupon_id),
    user_id: str(r.user_id),
    merchant_id: str(r.merchant_id),
    order_id: str(r.order_id),
    order_amount_minor: int(r.order_amount_minor),
    currency: str(r.currency),
    product_kind: str(r.product_kind),
    discount_minor: int(r.discount_minor),
    status: str(r.status) as RedemptionStatus,
    hold_expires_at_ms: intOrNull(r.hold_expires_at_ms),
    device_id: strOrNull(r.device_id),
    ip: strOrNull(r.ip),
    created_at_ms: int(r.created_at_ms),
    updated_at_ms: int(r.updated_at_ms),
  };
}

export function idemFromRow(r: Row): IdempotencyRecord {
  return {
    key: str(r.key),
    fingerprint: str(r.fingerprint),
    result: JSON.parse(str(r.result)),
    created_at_ms: int(r.created_at_ms),
  };
}

export function outboxFromRow(r: Row): OutboxEvent {
  return { id: str(r.id), type: str(r.type), created_at_ms: int(r.created_at_ms), data: JSON.parse(str(r.data)) };
}

export function auditFromRow(r: Row): AuditEntry & { seq: number } {
  return {
    seq: int(r.seq),
    chain: str(r.chain),
    chain_seq: int(r.chain_seq),
    at_ms: int(r.at_ms),
    actor: strOrNull(r.actor),
    action: str(r.action),
    subject: str(r.subject),
    data_json: str(r.data_json),
    prev_hash: str(r.prev_hash),
    hash: str(r.hash),
  };
}

export function apiKeyFromRow(r: Row): ApiKeyRecord {
  return {
    id: str(r.id),
    name: str(r.name),
    hash: str(r.hash),
    scopes: JSON.parse(str(r.scopes)) as string[],
    created_at_ms: int(r.created_at_ms),
    revoked_at_ms: intOrNull(r.revoked_at_ms),
    ...keyOriginFromRow(r),
  };
}

export function keyOriginFromRow(r: Row): KeyOrigin {
  return {
    created_by: r.created_by === null ? null : str(r.created_by),
    replaces: r.replaces === null ? null : str(r.replaces),
  };
}

/** Column arrays for `unnest`: one array per column, in `cols` order. */
export function columns<T extends object>(rows: readonly T[], cols: string): unknown[][] {
  const names = cols.split(', ') as Array<keyof T>;
  return names.map((name) => rows.map((row) => row[name] ?? null));
}
