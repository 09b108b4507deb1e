import { idempotencyKeyReused, Rejection } from '../domain/errors.ts';
import type { Store } from '../store/port.ts';
import type { IdemKey, Outcome } from './commands.ts';

/**
 * Looks up what a command names (its campaign, redemption, envelope or code) before the command
 * goes to its batch. An unknown one is refused there, before any batch could record the refusal
 * under the request's Idempotency-Key as it records every other; so it is recorded here: the same
 * request replays the 404 even once the code exists, and another request under the key is 409
 * (API.md), as the endpoints outside the engine do. Other refusals (429, 503) are not answers to
 * keep: a retry runs again.
 */
export async function lookedUp<T>(
  store: Store,
  now_ms: number,
  idem: IdemKey | undefined,
  lookup: () => Promise<T>,
): Promise<T> {
  if (idem === undefined) return lookup();
  try {
    return await lookup();
  } catch (e) {
    if (!(e instanceof Rejection) || (e.code !== 'not_found' && e.code !== 'coupon_not_found')) throw e;
    const refusal: Outcome = {
      ok: false,
      error: { code: e.code, message: e.message, ...(e.param ? { param: e.param } : {}) },
    };
    const kept = await store.putIdempotency({ ...idem, result: refusal, created_at_ms: now_ms });
    if (kept.fingerprint !== idem.fingerprint) throw idempotencyKeyReused();
    // This request's refusal, or the same request's first (a shared code made since: it found one).
    const first = kept.result as Outcome;
    if (first.ok) throw e;
    throw new Rejection(first.error.code as Rejection['code'], first.error.message, first.error.param);
  }
}
