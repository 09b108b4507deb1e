import { type CodeKey, codeLength, hasValidCheck, issuedCodeLength, normalizeCode } from '../domain/codes.ts';
import { type Coupon, nameableById } from '../domain/coupon.ts';
import { Rejection } from '../domain/errors.ts';
import type { Store } from '../store/port.ts';
import { SingleFlight } from './single-flight.ts';

/** How a request names its coupon: by id, or by the code as typed. */
function cacheKeyOf(input: { code?: string; coupon_id?: string }): string {
  return input.coupon_id !== undefined ? `id:${input.coupon_id}` : `code:${input.code}`;
}

const notFound = () => new Rejection('coupon_not_found', 'no such coupon', 'code');

/**
 * A shared code is what its creator typed, compared case-insensitively and with compatibility
 * forms folded (NFKC), so `ｓｐｒｉｎｇ` from a full-width input method is `SPRING`.
 */
export function normalizeSharedCode(code: string): string {
  return code.normalize('NFKC').trim().toUpperCase();
}

/** True when the text has the shape of a generated code, so it is never taken for a shared one. */
export function looksGenerated(code: string): boolean {
  const n = normalizeCode(code);
  return (n.length === codeLength || n.length === issuedCodeLength) && /^[0-9A-HJKMNP-TV-Z]+$/.test(n);
}

/**
 * Finds the coupon a request names. A generated code that fails its check part is
 * refused without reading the store; anything else is looked up as a shared code.
 * An id names claimed and shared coupons only, never a unique code's (see nameableById).
 */
export class CodeResolver {
  /** Which campaign a coupon (by id or code) belongs to never changes, so it can be remembered. */
  private readonly routes = new Map<string, { coupon_id: string; campaign_id: string }>();
  private readonly inflight = new SingleFlight<{ coupon_id: string; campaign_id: string }>();

  /**
   * Shared codes stored in a form creation no longer makes: with the shape of a generated code
   * (created before issued codes grew to 20 symbols, e.g. `BLACKFRIDAY2024DEALS`), or not folded
   * by NFKC (created before normalizeSharedCode folded full-width forms, e.g. `ＳＰＲＩＮＧ`).
   * Creation makes neither now, so this map only shrinks; Engine.open fills it once, keyed by the
   * code as normalizeSharedCode makes it, and those codes keep resolving as the shared codes they are.
   */
  readonly legacySharedCodes = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly key: CodeKey,
    private readonly routes_max = 100_000,
  ) {}

  /**
   * Shared coupons as validations last read them, each with its campaign's audit_seq as this
   * node's CampaignCache held it before the read (see cachedShared).
   */
  private readonly shared = new Map<string, { coupon: Coupon; audit_seq: number }>();

  /** A remembered route, without waiting for anything. */
  cachedRoute(input: { code?: string; coupon_id?: string }): { coupon_id: string; campaign_id: string } | undefined {
    return this.routes.get(cacheKeyOf(input));
  }

  /**
   * The shared coupon a validation read before, if its campaign's audit_seq is still the one
   * seen before that read. Every change to a coupon commits an entry on its campaign's audit
   * chain, and this node's commits reach its CampaignCache at once, another node's within the
   * cache's TTL: so this is as fresh as the campaign validations already answer from. A shared
   * coupon is one per campaign and changes only when revoked, so it is the one worth keeping;
   * claimed and unique coupons are read every time.
   */
  cachedShared(input: { code?: string; coupon_id?: string }, audit_seq: number): Coupon | undefined {
    const hit = this.shared.get(cacheKeyOf(input));
    return hit !== undefined && hit.audit_seq === audit_seq ? hit.coupon : undefined;
  }

  /**
   * resolve, for a validation: remembers the route, and a shared coupon with `seen`, the
   * campaign's audit_seq read before this store read began (undefined: not known, keep nothing).
   * A commit landing during the read only makes the coupon newer than `seen` says, never older.
   */
  async resolveForValidation(input: { code?: string; coupon_id?: string }, seen: number | undefined): Promise<Coupon> {
    const c = await this.resolve(input);
    const key = cacheKeyOf(input);
    this.rememberRoute(key, c);
    if (c.kind === 'shared' && seen !== undefined) {
      if (this.shared.size >= this.routes_max) this.shared.clear();
      this.shared.set(key, { coupon: Object.freeze({ ...c }), audit_seq: seen });
    }
    return c;
  }

  /** Which campaign a coupon belongs to never changes: kept, within routes_max entries. */
  private rememberRoute(key: string, c: Coupon): { coupon_id: string; campaign_id: string } {
    if (this.routes.size >= this.routes_max) this.routes.clear();
    const route = { coupon_id: c.id, campaign_id: c.campaign_id };
    this.routes.set(key, route);
    return route;
  }

  /** The coupon's id and campaign, for routing a redemption to its campaign's batch. */
  async route(input: { code?: string; coupon_id?: string }): Promise<{ coupon_id: string; campaign_id: string }> {
    const cacheKey = cacheKeyOf(input);
    const hit = this.routes.get(cacheKey);
    if (hit) return hit;
    // One lookup per code at a time: a stampede on a new code costs one store read, not thousands.
    return this.inflight.run(cacheKey, async () => this.rememberRoute(cacheKey, await this.resolve(input)));
  }

  /**
   * A unique (bearer) coupon named by its id answers exactly as an unknown id: 404, and a failed
   * attempt toward the lockout, so an id neither redeems it nor tells that it exists.
   */
  async resolve(input: { code?: string; coupon_id?: string }): Promise<Coupon> {
    if (input.coupon_id !== undefined) {
      const c = await this.store.getCoupon(input.coupon_id);
      if (!c || !nameableById(c)) throw new Rejection('coupon_not_found', 'no such coupon', 'coupon_id');
      return c;
    }
    if (input.code === undefined) throw new Rejection('invalid_request', 'code or coupon_id is required', 'code');
    const shared = normalizeSharedCode(input.code);
    const legacy = this.legacySharedCodes.get(shared);
    if (legacy !== undefined) return this.sharedCoupon(legacy);
    if (looksGenerated(input.code)) {
      const code = normalizeCode(input.code);
      if (!hasValidCheck(code, this.key)) throw notFound();
      const c = await this.store.findCouponByCode(code);
      if (!c || c.kind === 'shared') throw notFound();
      return c;
    }
    return this.sharedCoupon(shared);
  }

  private async sharedCoupon(code: string): Promise<Coupon> {
    const c = await this.store.findCouponByCode(code);
    if (c?.kind !== 'shared') throw notFound();
    return c;
  }
}
