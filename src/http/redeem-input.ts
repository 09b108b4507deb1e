import { isIP, SocketAddress } from 'node:net';
import type { Static } from '@sinclair/typebox';
import { Rejection } from '../domain/errors.ts';
import type { RedeemInput } from '../engine/engine.ts';
import { productKindOf } from './product-kind-input.ts';
import type { RedemptionCreate } from './redemption-schemas.ts';

type RedeemBody = Static<typeof RedemptionCreate>;

const ipv4Mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/;

/**
 * One spelling per address, since velocity and the lockout count by this text: IPv6 compressed and
 * lower case, an IPv4-mapped IPv6 address as its IPv4 (`::FFFF:CB00:714D` is `203.0.113.77`).
 */
export function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const address = new SocketAddress({ address: ip, family: 'ipv6' }).address;
  return ipv4Mapped.exec(address)?.[1] ?? address;
}

/**
 * Exactly one of code and coupon_id. The IP is the shopper's as the checkout sends it, or none:
 * never the caller's own address, which is the checkout server's or a load balancer's, shared by
 * every shopper (counting it would lock them all out after 50 typos between them).
 */
export function redeemInputOf(body: RedeemBody): RedeemInput {
  if (body.code !== undefined && body.coupon_id !== undefined) {
    throw new Rejection('invalid_request', 'send code or coupon_id, not both', 'coupon_id');
  }
  if (body.code === undefined && body.coupon_id === undefined) {
    throw new Rejection('invalid_request', 'code or coupon_id is required', 'code');
  }
  if (body.ip != null && isIP(body.ip) === 0)
    throw new Rejection('invalid_request', 'ip must be an IPv4 or IPv6 address', 'ip');
  const ip = body.ip == null ? null : canonicalIp(body.ip);
  return {
    user_id: body.user_id,
    ...(body.code !== undefined ? { code: body.code } : {}),
    ...(body.coupon_id !== undefined ? { coupon_id: body.coupon_id } : {}),
    order: { ...body.order, product_kind: productKindOf(body.order.product_kind, 'order.product_kind') },
    device_id: body.device_id ?? null,
    ip,
    confirm: body.confirm ?? false,
  };
}
