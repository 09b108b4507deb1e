import { type CodeKey, codeLength, hasValidCheck, normalizeCode } from '../domain/codes.ts';
import type { Coupon } from '../domain/coupon.ts';
import { Rejection } from '../domain/errors.ts';
import type { Store } from '../store/port.ts';

const notFound = () => new Rejection('coupon_not_found', 'no such coupon', 'code');

/** A shared code is what its creator typed, compared case-insensitively. */
export function normalizeSharedCode(code: string): string {
  return code.trim().toUpperCase();
}

/** True when the text has the shape of a generated code, so it is never taken for a shared one. */
export function looksGenerated(code: string): boolean {
  const n = normalizeCode(code);
  return n.length === codeLength && /^[0-9A-HJKMNP-TV-Z]+$/.test(n);
}

/**
 * Finds the coupon a request names. A generated code that fails its check part is
 * refused without reading the store; anything else is looked up as a shared code.
 */
export class CodeResolver {
  constructor(
    private readonly store: Store,
    private readonly key: CodeKey,
  ) {}

  async resolve(input: { code?: string; coupon_id?: string }): Promise<Coupon> {
    if (input.coupon_id !== undefined) {
      const c = await this.store.getCoupon(input.coupon_id);
      if (!c) throw new Rejection('coupon_not_found', 'no such coupon', 'coupon_id');
      return c;
    }
    if (input.code === undefined) throw new Rejection('invalid_request', 'code or coupon_id is required', 'code');
    if (looksGenerated(input.code)) {
      const code = normalizeCode(input.code);
      if (!hasValidCheck(code, this.key)) throw notFound();
      const c = await this.store.findCouponByCode(code);
      if (!c || c.kind === 'shared') throw notFound();
      return c;
    }
    const c = await this.store.findCouponByCode(normalizeSharedCode(input.code));
    if (!c || c.kind !== 'shared') throw notFound();
    return c;
  }
}
