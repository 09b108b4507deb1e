import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { buildCouponMix, type CouponMix } from '../support/coupon-mix.ts';
import { assertInvariants, envelopeTerms, type Harness, harness } from '../support/fixtures.ts';
import { createTestDatabase, pg_unavailable_message } from '../support/pg.ts';
import { assertCaught, tamperedSqliteCopy, verifySqlite, verifyTamperedPostgres } from '../support/tamper.ts';

/**
 * verify holds the stored rows to what the audit chain recorded of them, beyond the money counters:
 * each case edits a copy of a store built through the engine (support/coupon-mix.ts) the way a bad
 * manual fix or a DB writer would, keeping every counter consistent with the edit, so that only the
 * chain can tell; verify must fail, naming the row. Each of these went unreported before its check.
 */

/** The coupon mix and a red envelope still open (not expired, one packet grabbed), by campaign id. */
type LedgerMix = CouponMix & { open_envelope: string };

async function buildLedgerMix(h: Harness): Promise<LedgerMix> {
  const mix = await buildCouponMix(h);
  const terms = envelopeTerms(h, { total_minor: 3_000, count: 3 });
  const open = await h.engine.envelopes.create(terms, { actor: 'key_admin' });
  await h.engine.envelopes.grab(open.red_envelope?.id ?? '', 'g1', { actor: 'key_checkout' });
  return { ...mix, open_envelope: open.id };
}

interface Case {
  name: string;
  /** Statements that edit the copy (the same text on SQLite and PostgreSQL), each changing one row. */
  sql: (m: LedgerMix) => string[];
  /** What verify must say. */
  says: (m: LedgerMix) => string;
}

/** An envelope's row field in SQL, and a statement that edits that field in its campaign document (stored as JSON text). */
const envRow = (campaign_id: string, field: string) =>
  `(SELECT ${field} FROM red_envelopes WHERE campaign_id = '${campaign_id}')`;
const editEnvelopeDoc = (campaign_id: string, field: string, next: string) =>
  `UPDATE campaigns SET doc = replace(doc, '"${field}":' || ${envRow(campaign_id, field)} || ',', '"${field}":' || (${next}) || ',') WHERE id = '${campaign_id}'`;

const cp = (m: CouponMix, name: string) => m.coupons[name]?.id ?? assert.fail(`no coupon ${name}`);
const rd = (m: CouponMix, name: string) => m.redemptions[name]?.id ?? assert.fail(`no redemption ${name}`);
/** The usage key of a redemption's order (redeem-handlers.ts orderKey; the mix's order ids need no escaping). */
const orderKeyOf = (m: CouponMix, name: string) =>
  `(SELECT 'order:' || order_id || ':' || merchant_id FROM redemptions WHERE id = '${rd(m, name)}')`;

const cases: Case[] = [
  {
    name: 'a redemption moved to another order, its order counter with it (the order could take a second discount)',
    sql: (m) => [
      `UPDATE usage SET key = 'order:elsewhere:m1' WHERE campaign_id = '${m.campaigns.claim}' AND key = ${orderKeyOf(m, 'confirmed')}`,
      `UPDATE redemptions SET order_id = 'elsewhere' WHERE id = '${rd(m, 'confirmed')}'`,
    ],
    says: (m) => `redemption ${rd(m, 'confirmed')} order_id is elsewhere, audited o`,
  },
  {
    name: 'a redemption moved to another merchant, its order counter with it',
    sql: (m) => [
      `UPDATE usage SET key = replace(key, ':m1', ':m7') WHERE campaign_id = '${m.campaigns.claim}' AND key = ${orderKeyOf(m, 'confirmed')}`,
      `UPDATE redemptions SET merchant_id = 'm7' WHERE id = '${rd(m, 'confirmed')}'`,
    ],
    says: (m) => `redemption ${rd(m, 'confirmed')} merchant_id is m7, audited m1`,
  },
  {
    name: 'a redemption of the shared code moved to another user',
    sql: (m) => [`UPDATE redemptions SET user_id = 'intruder' WHERE id = '${rd(m, 's_confirmed_1')}'`],
    says: (m) => `redemption ${rd(m, 's_confirmed_1')} user_id is intruder, audited su1`,
  },
  {
    name: "a redemption's creation time moved (invariant 5 judges the window by it)",
    sql: (m) => [`UPDATE redemptions SET created_at_ms = created_at_ms + 1000 WHERE id = '${rd(m, 'confirmed')}'`],
    says: (m) => `redemption ${rd(m, 'confirmed')} was made at `,
  },
  {
    name: 'a coupon whose redemption was reversed without restore_coupon set active again (a second discount)',
    sql: (m) => [`UPDATE coupons SET status = 'active' WHERE id = '${cp(m, 'reversed')}'`],
    says: (m) =>
      `coupon ${cp(m, 'reversed')} is active, but its redemption ${rd(m, 'reversed')} was reversed without giving it back`,
  },
  {
    name: "a user's claim counter deleted (the user could claim past per_user_limit)",
    sql: (m) => [`DELETE FROM usage WHERE campaign_id = '${m.campaigns.claim}' AND key = 'claim:unused'`],
    says: () => 'claim counter of user unused is off',
  },
  {
    name: 'the usage counter of a user with no live redemption set below zero (the user could redeem past per_user_limit)',
    sql: (m) => [`UPDATE usage SET count = -5 WHERE campaign_id = '${m.campaigns.claim}' AND key = 'user:reversed'`],
    says: () => 'usage counter of user:reversed is off',
  },
  {
    name: "an active campaign's status column set to ended, its document left active (the kill switch, which lists campaigns by that column, would pass it by)",
    sql: (m) => [`UPDATE campaigns SET status = 'ended' WHERE id = '${m.campaigns.claim}'`],
    says: (m) => `campaign ${m.campaigns.claim} has status ended in its status column, active in its row`,
  },
  {
    name: 'an incident row that is not JSON: reported, not a crash',
    sql: (m) => [
      `UPDATE incidents SET doc = '{not json' WHERE id = (SELECT incident_id FROM incident_revocations WHERE campaign_id = '${m.campaigns.revoked_by_incident}')`,
    ],
    says: () => 'the incidents cannot be read',
  },
  {
    name: 'a hold whose expiry is cleared (the sweeper never releases it; it can be confirmed at any time)',
    sql: (m) => [`UPDATE redemptions SET hold_expires_at_ms = NULL WHERE id = '${rd(m, 'held')}'`],
    says: (m) => `${rd(m, 'held')} is reserved with hold expiry none, not after its creation`,
  },
  {
    name: 'a hold whose expiry is set back to its creation',
    sql: (m) => [`UPDATE redemptions SET hold_expires_at_ms = created_at_ms WHERE id = '${rd(m, 'held')}'`],
    says: (m) => `${rd(m, 'held')} is reserved with hold expiry `,
  },
  {
    name: "an open envelope's expiry moved a day later, in its document and its row (grabbable past the expiry it was made with)",
    sql: (m) => [
      editEnvelopeDoc(m.open_envelope, 'expires_at_ms', `${envRow(m.open_envelope, 'expires_at_ms')} + 86400000`),
      `UPDATE red_envelopes SET expires_at_ms = expires_at_ms + 86400000 WHERE campaign_id = '${m.open_envelope}'`,
    ],
    says: () => 'envelope expires_at_ms is ',
  },
  {
    name: "an open envelope's row marked settled (the sweeper never refunds its remainder)",
    sql: (m) => [`UPDATE red_envelopes SET settled_at_ms = created_at_ms WHERE campaign_id = '${m.open_envelope}'`],
    says: () => 'red_envelopes row settled_at_ms is ',
  },
  {
    name: "an open envelope's row expiry moved later (the sweeper refunds late)",
    sql: (m) => [`UPDATE red_envelopes SET expires_at_ms = expires_at_ms + 1 WHERE campaign_id = '${m.open_envelope}'`],
    says: () => 'red_envelopes row expires_at_ms is ',
  },
  {
    name: "a settled envelope's settlement time moved in its document",
    sql: (m) => [
      editEnvelopeDoc(m.campaigns.envelope, 'settled_at_ms', `${envRow(m.campaigns.envelope, 'settled_at_ms')} + 1`),
    ],
    says: () => 'envelope settled_at_ms is ',
  },
];

/** The report fails, and one of its lines (as the CLI prints them) says `says`. */

const root = mkdtempSync(join(tmpdir(), 'vs-verify-ledger-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('verify holds rows to their chain: SQLite', () => {
  const baseline = join(root, 'baseline');
  let mix: LedgerMix;

  before(async () => {
    const store = new SqliteStore({ path: join(baseline, 'vouchsafe.db') });
    const h = await harness({}, store);
    mix = await buildLedgerMix(h);
    await h.engine.close();
    await assertInvariants(store);
    await store.close();
  });

  for (const [i, c] of cases.entries()) {
    test(`caught: ${c.name}`, async () => {
      const dir = tamperedSqliteCopy(baseline, join(root, `case-${i}`), c.sql(mix));
      assertCaught(await verifySqlite(dir), c.says(mix));
    });
  }
});

const db = await createTestDatabase();
after(() => db?.drop());

describe('verify holds rows to their chain: PostgreSQL', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const base = db;
  let mix: LedgerMix;

  before(async () => {
    const store = new PostgresStore({ url: base.url });
    await store.migrate();
    const h = await harness({}, store);
    mix = await buildLedgerMix(h);
    await h.engine.close();
    await assertInvariants(store);
    await store.close();
  });

  for (const c of cases) {
    test(`caught: ${c.name}`, async () => {
      assertCaught(await verifyTamperedPostgres(base, c.sql(mix)), c.says(mix));
    });
  }
});
