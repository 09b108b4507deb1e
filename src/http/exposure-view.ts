import type { Static } from '@sinclair/typebox';
import { availableMinor } from '../domain/campaign.ts';
import { Rejection } from '../domain/errors.ts';
import { maxExposureMinor } from '../domain/exposure.ts';
import { isLive } from '../domain/redemption.ts';
import type { ExposureRow, Store } from '../store/port.ts';
import type { ExposureView } from './campaign-schemas.ts';

/** Groups shown per dimension, largest exposure first; the rest is left off. */
const groups_max = 1000;

type Group = { key: string; count: number; discount_minor: number };

/** Live (reserved, confirmed, frozen) redemptions per key: what the campaign stands to pay. */
function liveByKey(rows: ExposureRow[]): Group[] {
  const byKey = new Map<string, Group>();
  for (const row of rows) {
    if (!isLive(row.status)) continue;
    const g = byKey.get(row.key) ?? { key: row.key, count: 0, discount_minor: 0 };
    g.count += row.count;
    g.discount_minor += row.discount_minor;
    byKey.set(row.key, g);
  }
  return [...byKey.values()]
    .sort((a, b) => b.discount_minor - a.discount_minor || a.key.localeCompare(b.key))
    .slice(0, groups_max);
}

/**
 * Reads only: the campaign's counters plus grouped sums of its redemption rows, read together
 * (store.exposure), so the live groups sum to reserved + spent even while redemptions commit.
 */
export async function exposureView(store: Store, campaign_id: string): Promise<Static<typeof ExposureView>> {
  const read = await store.exposure(campaign_id);
  if (!read) throw new Rejection('not_found', 'no such campaign');
  const { campaign: c, by_merchant: merchants, by_product_kind: kinds } = read;
  return {
    campaign_id: c.id,
    budget_minor: c.budget_minor,
    max_exposure_minor: maxExposureMinor(c),
    reserved_minor: c.reserved_minor,
    spent_minor: c.spent_minor,
    frozen_minor: c.frozen_minor,
    reversed_minor: c.reversed_minor,
    available_minor: availableMinor(c),
    counts: {
      reserved: c.reserved_count,
      confirmed: c.confirmed_count,
      frozen: c.frozen_count,
      released: c.released_count,
      reversed: c.reversed_count,
    },
    by_merchant: liveByKey(merchants).map((g) => ({
      merchant_id: g.key,
      count: g.count,
      discount_minor: g.discount_minor,
    })),
    by_product_kind: liveByKey(kinds).map((g) => ({
      product_kind: g.key,
      count: g.count,
      discount_minor: g.discount_minor,
    })),
  };
}
