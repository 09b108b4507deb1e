import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/engine/engine.ts';
import { Incidents } from '../src/engine/incidents/incidents.ts';
import { verifyStore } from '../src/engine/verify.ts';
import type { Store } from '../src/store/port.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { bulkCampaign, seedRedemptions } from '../test/support/seed.ts';
import { fmt, ratio, type Section } from './report.ts';

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}

/** Rows of one status summed from the store (not from the incident's tables). */
async function statusSum(store: Store, ids: string[], status: 'frozen' | 'released' | 'reversed') {
  let count = 0;
  let minor = 0;
  for (const id of ids) {
    const t = (await store.redemptionTotals(id)).get(status);
    count += t?.count ?? 0;
    if (status !== 'released') minor += t?.discount_minor ?? 0;
  }
  // redemptionTotals leaves released holds unsummed (their sum has no bound): summed from the rows.
  if (status === 'released') {
    for (const id of ids) {
      await store.forEachRedemption(id, (page) => {
        for (const r of page) if (r.status === 'released') minor += r.discount_minor;
      });
    }
  }
  return { count, minor };
}

/**
 * An incident over `total` redemptions in three campaigns: open (pause, freeze, revoke, report),
 * then reverse them all. Baseline: the engine writing the same redemptions in the first place.
 */
export async function incidentSection(): Promise<Section> {
  const total = Number(process.env.BENCH_INCIDENT_TOTAL ?? 430_000);
  const dir = mkdtempSync(join(tmpdir(), 'vs-bench-incident-'));
  const store = new SqliteStore({ path: join(dir, 'bench.db'), synchronous: 'FULL', background_checkpoint: true });
  const engine = await Engine.open(store, { approval_threshold_minor: Number.MAX_SAFE_INTEGER });
  const codes = ['LEAKA', 'LEAKB', 'LEAKC'];
  const campaigns = [];
  for (const code of codes) campaigns.push(await bulkCampaign(engine, code));
  const ids = campaigns.map((c) => c.id);
  const seeded = process.hrtime.bigint();
  let offset = 0;
  for (const [i, code] of codes.entries()) {
    const n = i < codes.length - 1 ? Math.floor(total / codes.length) : total - offset;
    await seedRedemptions(engine, code, n, { offset, merchants: 500 });
    offset += n;
  }
  const seed_s = seconds(seeded);
  const incidents = new Incidents(engine);
  const who = { actor: 'bench' };
  const opened = process.hrtime.bigint();
  const inc = await incidents.open(
    {
      title: 'bench leak',
      scope: { campaign_ids: ids, merchant_ids: null, from_ms: null, to_ms: null },
      actions: ['pause_campaigns', 'freeze_redemptions', 'revoke_unredeemed'],
    },
    who,
  );
  const open_s = seconds(opened);
  const frozen = await statusSum(store, ids, 'frozen');
  const released = await statusSum(store, ids, 'released');
  const report = inc.report;
  const report_exact =
    report?.frozen_count === frozen.count &&
    report.frozen_minor === frozen.minor &&
    report.released_holds_count === released.count &&
    report.released_holds_minor === released.minor;
  const verify_frozen = await verifyStore(store);
  const reversing = process.hrtime.bigint();
  const done = await incidents.resolve(inc.id, 'reverse', who);
  const reverse_s = seconds(reversing);
  const reversed = await statusSum(store, ids, 'reversed');
  const verify_reversed = await verifyStore(store);
  await engine.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const seed_per_s = total / seed_s;
  const reverse_exact = done.resolved?.discount_minor === reversed.minor && reversed.minor === frozen.minor;
  return {
    title: 'Incident: freeze and reverse a leak (SQLite, WAL, synchronous=FULL)',
    method: `${fmt(total)} redemptions (90% confirmed, 10% holds) in 3 shared-code campaigns, 500 merchants, written through engine.redeem. One incident pauses the campaigns, freezes every confirmed redemption and releases every hold (${fmt(4000)} ids per campaign batch), revokes unredeemed coupons and reports from the rows; then resolves by reversing the frozen ones. Baseline: writing the same redemptions through the engine in the first place.`,
    rows: [
      {
        what: `open: pause, freeze ${fmt(frozen.count)} and release ${fmt(released.count)}, revoke, report`,
        figure: `${fmt(open_s, 1)} s (${fmt(total / open_s)} /s)`,
        baseline: `${fmt(seed_s, 1)} s (${fmt(seed_per_s)} /s)`,
        ratio: ratio(total / open_s, seed_per_s),
        target: '< 60 s',
      },
      {
        what: `resolve: reverse ${fmt(reversed.count)} (budget restored)`,
        figure: `${fmt(reverse_s, 1)} s (${fmt(total / reverse_s)} /s)`,
        baseline: `${fmt(seed_s, 1)} s (${fmt(seed_per_s)} /s)`,
        ratio: ratio(total / reverse_s, seed_per_s),
        target: '< 60 s',
      },
    ],
    notes: [
      `report vs frozen and released rows: ${report_exact ? 'equal to the minor unit' : 'MISMATCH'} (${fmt(frozen.minor)} and ${fmt(released.minor)} minor); reversal: ${reverse_exact ? 'equal' : 'MISMATCH'}`,
      `verify after freezing and after reversing: ${verify_frozen.ok && verify_reversed.ok ? 'all invariants hold' : 'VIOLATIONS FOUND'}`,
    ],
  };
}
