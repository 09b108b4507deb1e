import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CouponStatus } from '../../src/domain/coupon.ts';
import type { RedemptionStatus } from '../../src/domain/redemption.ts';
import type { Store } from '../../src/store/port.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { buildCouponMix, type CouponMix } from '../support/coupon-mix.ts';
import { assertInvariants, day_ms, harness } from '../support/fixtures.ts';
import { runCli } from '../support/node-process.ts';
import { copyTestDatabase, createTestDatabase, pg_unavailable_message } from '../support/pg.ts';
import { assertCaught, tamperedSqliteCopy, verifySqlite, verifyTamperedPostgres } from '../support/tamper.ts';

/**
 * `vouchsafe verify` holds coupon rows to their campaign and their redemptions. A store built
 * through the engine with every way a coupon comes to stand (support/coupon-mix.ts) verifies;
 * each case below edits one row of a copy of it, and verify must fail naming that row.
 */

/** How each coupon of the mix stands: its status, and the statuses of its redemptions in order. */
const standing: Record<string, [CouponStatus, RedemptionStatus[]]> = {
  expiring: ['active', ['released']],
  unused: ['active', []],
  held: ['reserved', ['reserved']],
  confirmed: ['redeemed', ['confirmed']],
  released: ['active', ['released']],
  reversed: ['redeemed', ['reversed']],
  restored: ['redeemed', ['reversed', 'confirmed']],
  frozen: ['redeemed', ['frozen']],
  frozen_reversed: ['active', ['reversed']],
  b_unused: ['revoked', []],
  b_redeemed: ['redeemed', ['confirmed']],
  b_hold_confirmed: ['revoked', ['confirmed']],
  b_hold_left: ['revoked', ['reserved']],
  shared: ['revoked', ['confirmed', 'confirmed', 'reserved', 'released', 'reversed']],
  code_0: ['redeemed', ['confirmed']],
  code_1: ['reserved', ['reserved']],
  code_2: ['active', []],
  e_redeemed: ['redeemed', ['confirmed']],
  e_held: ['reserved', ['reserved']],
  e_unused: ['active', []],
  f_redeemed: ['revoked', ['reversed']],
  f_held: ['revoked', ['released']],
  f_unused: ['revoked', []],
};

async function assertStanding(store: Store, mix: CouponMix): Promise<void> {
  assert.deepEqual(Object.keys(mix.coupons).sort(), Object.keys(standing).sort());
  for (const [name, [status, statuses]] of Object.entries(standing)) {
    const coupon = mix.coupons[name];
    assert.ok(coupon, name);
    assert.equal((await store.getCoupon(coupon.id))?.status, status, `coupon ${name}`);
    const rows = (await store.listRedemptions({ limit: 100, campaign_id: coupon.campaign_id })).data;
    const its = rows.filter((r) => r.coupon_id === coupon.id).reverse();
    assert.deepEqual(
      its.map((r) => r.status),
      statuses,
      `redemptions of ${name}`,
    );
  }
}

interface Case {
  name: string;
  /** Statements that edit the copy (the same text on SQLite and PostgreSQL). */
  sql: (m: CouponMix) => string[];
  /** What verify must say. */
  says: (m: CouponMix) => string;
}

const cp = (m: CouponMix, name: string) => m.coupons[name]?.id ?? assert.fail(`no coupon ${name}`);
const rd = (m: CouponMix, name: string) => m.redemptions[name]?.id ?? assert.fail(`no redemption ${name}`);
const setCoupon = (m: CouponMix, name: string, set: string) => [
  `UPDATE coupons SET ${set} WHERE id = '${cp(m, name)}'`,
];

/** An active coupon inserted beside the named one's (same campaign, times), as a forger would. */
function forgedCoupon(m: CouponMix, like: string, id: string, code: string, kind: string, owner: string | null) {
  const c = m.coupons[like];
  assert.ok(c, like);
  const user = owner === null ? 'NULL' : `'${owner}'`;
  const values = `'${id}', '${c.campaign_id}', ${user}, '${code}', '${kind}', 'active', ${c.expires_at_ms}, ${c.created_at_ms}, ${c.created_at_ms}, NULL`;
  return [
    `INSERT INTO coupons (id, campaign_id, user_id, code, kind, status, expires_at_ms, created_at_ms, updated_at_ms, value_minor) VALUES (${values})`,
  ];
}

const cases: Case[] = [
  {
    name: 'a coupon on hold set active',
    sql: (m) => setCoupon(m, 'held', "status = 'active'"),
    says: (m) => `coupon ${cp(m, 'held')} is active with 1 reserved, 0 confirmed or frozen and 0 reversed redemptions`,
  },
  {
    name: 'a red-envelope coupon on hold set active',
    sql: (m) => setCoupon(m, 'e_held', "status = 'active'"),
    says: (m) => `coupon ${cp(m, 'e_held')} is active with 1 reserved`,
  },
  {
    name: 'a redeemed coupon set reserved',
    sql: (m) => setCoupon(m, 'confirmed', "status = 'reserved'"),
    says: (m) => `coupon ${cp(m, 'confirmed')} is reserved with 0 reserved, 1 confirmed or frozen`,
  },
  {
    name: 'a coupon whose hold was released set redeemed',
    sql: (m) => setCoupon(m, 'released', "status = 'redeemed'"),
    says: (m) => `coupon ${cp(m, 'released')} is redeemed with 0 reserved, 0 confirmed or frozen and 0 reversed`,
  },
  {
    name: 'a unique code on hold set redeemed',
    sql: (m) => setCoupon(m, 'code_1', "status = 'redeemed'"),
    says: (m) => `coupon ${cp(m, 'code_1')} is redeemed with 1 reserved`,
  },
  {
    name: 'the shared code set reserved',
    sql: (m) => setCoupon(m, 'shared', "status = 'reserved'"),
    says: (m) => `coupon ${cp(m, 'shared')} is a shared code in status reserved`,
  },
  {
    name: 'a coupon stored as expired',
    sql: (m) => setCoupon(m, 'unused', "status = 'expired'"),
    says: (m) => `coupon ${cp(m, 'unused')} has status 'expired', which no coupon is stored with`,
  },
  {
    name: 'an unused coupon an incident revoked set active again',
    sql: (m) => setCoupon(m, 'b_unused', "status = 'active'"),
    says: (m) => `coupon ${cp(m, 'b_unused')} is active or reserved although an incident revoked the campaign's`,
  },
  {
    name: 'a coupon an incident revoked under a hold set reserved again',
    sql: (m) => setCoupon(m, 'b_hold_left', "status = 'reserved'"),
    says: (m) => `coupon ${cp(m, 'b_hold_left')} is active or reserved although an incident revoked the campaign's`,
  },
  {
    name: 'an unused coupon of a revoked campaign set active again',
    sql: (m) => setCoupon(m, 'f_unused', "status = 'active'"),
    says: (m) => `coupon ${cp(m, 'f_unused')} is active or reserved in a revoked campaign`,
  },
  {
    name: 'the coupon of a hold a campaign revocation released set reserved',
    sql: (m) => setCoupon(m, 'f_held', "status = 'reserved'"),
    says: (m) => `coupon ${cp(m, 'f_held')} is active or reserved in a revoked campaign`,
  },
  {
    name: 'a redeemed coupon deleted',
    sql: (m) => [`DELETE FROM coupons WHERE id = '${cp(m, 'confirmed')}'`],
    says: (m) => `redemption ${rd(m, 'confirmed')} names no coupon of its campaign`,
  },
  {
    name: 'a redeemed coupon moved to another campaign',
    sql: (m) => setCoupon(m, 'b_redeemed', `campaign_id = '${m.campaigns.claim}'`),
    says: (m) => `redemption ${rd(m, 'b_redeemed')} names no coupon of its campaign`,
  },
  {
    name: 'a redemption moved to another user',
    sql: (m) => [`UPDATE redemptions SET user_id = 'intruder' WHERE id = '${rd(m, 'reversed')}'`],
    says: (m) => `redemption ${rd(m, 'reversed')} was made by a user other than its coupon's owner`,
  },
  {
    name: "a red-envelope coupon's value lowered below its discount",
    sql: (m) => setCoupon(m, 'e_redeemed', 'value_minor = 1'),
    says: (m) => `redemption ${rd(m, 'e_redeemed')} discounts more than its coupon's own value`,
  },
  {
    name: 'a coupon that outlives its campaign',
    sql: (m) => setCoupon(m, 'code_2', `expires_at_ms = expires_at_ms + ${day_ms}`),
    says: (m) => `coupon ${cp(m, 'code_2')} expires after its campaign ends`,
  },
  {
    name: 'a claimed coupon turned into a unique code',
    sql: (m) => setCoupon(m, 'unused', "kind = 'unique', user_id = NULL"),
    says: (m) => `coupon ${cp(m, 'unused')} is a unique coupon in a claim campaign, which issues claimed ones`,
  },
  {
    name: 'a claimed coupon without its owner',
    sql: (m) => setCoupon(m, 'b_unused', 'user_id = NULL'),
    says: (m) => `coupon ${cp(m, 'b_unused')} is a claimed coupon that names no owner`,
  },
  {
    name: 'a unique code given an owner',
    sql: (m) => setCoupon(m, 'code_2', "user_id = 'someone'"),
    says: (m) => `coupon ${cp(m, 'code_2')} is a unique (bearer) coupon that names an owner`,
  },
  {
    name: 'a value of its own outside a red envelope',
    sql: (m) => setCoupon(m, 'f_unused', 'value_minor = 500'),
    says: (m) => `coupon ${cp(m, 'f_unused')} has a value of its own outside a red envelope`,
  },
  {
    name: 'an unused coupon given to another user',
    sql: (m) => setCoupon(m, 'unused', "user_id = 'intruder'"),
    says: (m) => `coupon ${cp(m, 'unused')} belongs to intruder, audited unused`,
  },
  {
    name: "an unused coupon's expiry moved later, still within its campaign",
    sql: (m) => setCoupon(m, 'b_unused', 'expires_at_ms = expires_at_ms + 1000'),
    says: (m) => `coupon ${cp(m, 'b_unused')} expires `,
  },
  {
    name: 'a claimed coupon deleted',
    sql: (m) => [`DELETE FROM coupons WHERE id = '${cp(m, 'unused')}'`],
    says: (m) =>
      `coupon ${cp(m, 'unused')} claimed in the chain of ${m.campaigns.claim} is not stored as its claimed coupon`,
  },
  {
    name: 'a claimed coupon moved to another campaign',
    sql: (m) => setCoupon(m, 'b_unused', `campaign_id = '${m.campaigns.claim}'`),
    says: (m) => `coupon ${cp(m, 'b_unused')} claimed in the chain of ${m.campaigns.revoked_by_incident} is not stored`,
  },
  {
    name: 'a unique code inserted beside the generated ones',
    sql: (m) => forgedCoupon(m, 'code_2', 'cpn_forged_code', 'FORGEDCODE', 'unique', null),
    says: (m) => `invariant coupon ${m.campaigns.unique}: 4 unique codes stored, 3 generated in the audit chain`,
  },
  {
    name: 'a second shared code for a shared-code campaign',
    sql: (m) => forgedCoupon(m, 'shared', 'cpn_forged_shared', 'FORGEDSHARED', 'shared', null),
    says: (m) => `invariant coupon ${m.campaigns.shared}: 2 shared codes stored; a shared-code campaign has one`,
  },
  {
    name: 'a claimed coupon inserted without a claim',
    sql: (m) => forgedCoupon(m, 'unused', 'cpn_forged', 'FORGED', 'claimed', 'forger'),
    says: (m) => `invariant coupon ${m.campaigns.claim}: claimed_count 9 != 10 claimed coupons`,
  },
];

const root = mkdtempSync(join(tmpdir(), 'vs-verify-coupons-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('verify and coupon rows: SQLite, vouchsafe verify', () => {
  const baseline = join(root, 'baseline');
  let mix: CouponMix;

  before(async () => {
    const store = new SqliteStore({ path: join(baseline, 'vouchsafe.db') });
    const h = await harness({}, store);
    mix = await buildCouponMix(h);
    await assertStanding(store, mix);
    await h.engine.close();
    await store.close();
  });

  /** A copy of the baseline with `sql` run on it. */
  const tampered = (name: string, sql: string[]) => tamperedSqliteCopy(baseline, join(root, name), sql);

  test('the mix verifies: every coupon status the engine leaves fits its redemptions', async () => {
    const store = new SqliteStore({ path: join(baseline, 'vouchsafe.db') });
    try {
      await assertInvariants(store);
    } finally {
      await store.close();
    }
    const cli = await runCli(['verify', '--data-dir', tampered('clean', [])], {});
    assert.equal(cli.code, 0, cli.out);
    const coupons = Object.keys(standing).length;
    assert.match(cli.out, new RegExp(`^OK: 6 campaigns, ${coupons} coupons, `), cli.out);
  });

  // The first case through the CLI (exit 1, the row named in its output); the rest in-process, as on
  // PostgreSQL below: a CLI process costs about 2.5 s here, and it prints what verifyStore reports.
  for (const [i, c] of cases.entries()) {
    test(`caught: ${c.name}`, async () => {
      const dir = tampered(`case-${i}`, c.sql(mix));
      if (i === 0) {
        const cli = await runCli(['verify', '--data-dir', dir], {});
        assert.equal(cli.code, 1, cli.out);
        assert.ok(cli.out.includes(c.says(mix)), `verify must say "${c.says(mix)}":\n${cli.out}`);
        return;
      }
      assertCaught(await verifySqlite(dir), c.says(mix));
    });
  }
});

const db = await createTestDatabase();
after(() => db?.drop());

describe('verify and coupon rows: PostgreSQL', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const base = db;
  let mix: CouponMix;

  before(async () => {
    const store = new PostgresStore({ url: base.url });
    await store.migrate();
    const h = await harness({}, store);
    mix = await buildCouponMix(h);
    await assertStanding(store, mix);
    await h.engine.close();
    await store.close();
  });

  test('the mix verifies, with vouchsafe verify too', async () => {
    const copy = await copyTestDatabase(base);
    try {
      const cli = await runCli(['verify', '--database-url', copy.url], {});
      assert.equal(cli.code, 0, cli.out);
      assert.match(cli.out, new RegExp(`^OK: 6 campaigns, ${Object.keys(standing).length} coupons, `), cli.out);
    } finally {
      await copy.drop();
    }
  });

  for (const c of cases) {
    test(`caught: ${c.name}`, async () => {
      assertCaught(await verifyTamperedPostgres(base, c.sql(mix)), c.says(mix));
    });
  }
});
