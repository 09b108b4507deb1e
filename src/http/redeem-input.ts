import { isIP } from 'node:net';
import type { Static } from '@sinclair/typebox';
import { Rejection } from '../domain/errors.ts';
import type { RedeemInput } from '../engine/engine.ts';
import type { RedemptionCreate } from './redemption-schemas.ts';

type RedeemBody = Static<typeof RedemptionCreate>;

/** Exactly one of code and coupon_id; the IP defaults to the caller's. */
export function redeemInputOf(body: RedeemBody, caller_ip: string): RedeemInput {
  if (body.code !== undefined && body.coupon_id !== undefined) {
    throw new Rejection('invalid_request', 'send code or coupon_id, not both', 'coupon_id');
  }
  if (body.code === undefined && body.coupon_id === undefined) {
    throw new Rejection('invalid_request', 'code or coupon_id is required', 'code');
  }
  const ip = body.ip ?? caller_ip;
  if (body.ip != null && isIP(body.ip) === 0)
    throw new Rejection('invalid_request', 'ip must be an IPv4 or IPv6 address', 'ip');
  return {
    user_id: body.user_id,
    ...(body.code !== undefined ? { code: body.code } : {}),
    ...(body.coupon_id !== undefined ? { coupon_id: body.coupon_id } : {}),
    order: { ...body.order },
    device_id: body.device_id ?? null,
    ip,
    confirm: body.confirm ?? false,
  };
}
