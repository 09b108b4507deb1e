import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { verifyAuditLog } from '../../src/engine/audit-log.ts';
import { ManualClock } from '../../src/engine/clock.ts';
import { Engine } from '../../src/engine/engine.ts';
import { Incidents } from '../../src/engine/incidents/incidents.ts';
import { verifyStore } from '../../src/engine/verify.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, order, t0 } from '../support/fixtures.ts';

type Member = { incident_id: string; campaign_id: string; redemption_id: string; outcome: string | null };
type Entry = { seq: number; chain: string; action: string; subject: string; data: string };

const root = mkdtempSync(join(tmpdir(), 'vs-incident-audit-'));
const baseline = join(root, 'baseline');
const ids = { reversed: '', open: '', outsider: '' };
let members: Member[] = [];
let entries: Entry[] = [];

/**
 * Two incidents on one campaign each: one frozen and resolved by reversing (one member reversed
 * by hand first, so the resolution skips it), one frozen (and three unredeemed coupons revoked,
 * with the three of the holds it released) and still open; each released its campaign's three
 * holds; plus a redemption in a third campaign that no incident touched.
 */
before(async () => {
  const store = new SqliteStore({ path: join(baseline, 'vouchsafe.db'), synchronous: 'NORMAL' });
  const clock = new ManualClock(t0 + 60_000);
  const engine = await Engine.open(store, { clock, approval_threshold_minor: Number.MAX_SAFE_INTEGER });
  const h = { store, engine, clock };
  const who = { actor: 'key_admin' };
  const redeem = async (campaign_id: string, n: number) => {
    for (let i = 0; i < n; i++) {
      const user_id = `${campaign_id}-u${i}`;
      const coupon = await engine.claim({ campaign_id, user_id }, { actor: 'key_checkout' });
      const o = order({ id: `${campaign_id}-o${i}`, amount_minor: 10_000 + 37 * i });
      await engine.redeem({ user_id, coupon_id: coupon.id, order: o, confirm: i % 4 !== 0 }, { actor: 'key_checkout' });
    }
  };
  const [a, b, c] = [await activeCampaign(h), await activeCampaign(h), await activeCampaign(h)];
  await redeem(a.id, 12);
  await redeem(b.id, 9);
  await redeem(c.id, 3);
  for (const user_id of ['idle1', 'idle2', 'idle3']) await engine.claim({ campaign_id: b.id, user_id }, who);
  const incidents = new Incidents(engine);
  const scope = (id: string) => ({ campaign_ids: [id], merchant_ids: null, from_ms: null, to_ms: null });
  const one = await incidents.open({ title: 'one', scope: scope(a.id), actions: ['freeze_redemptions'] }, who);
  const first = (await store.listRedemptions({ campaign_id: a.id, status: 'frozen', limit: 1 })).data[0];
  assert.ok(first);
  await engine.reverse(first.id, false, who);
  await incidents.resolve(one.id, 'reverse', who);
  const actions = ['freeze_redemptions' as const, 'revoke_unredeemed' as const];
  const two = await incidents.open({ title: 'two', scope: scope(b.id), actions }, who);
  assert.equal(two.report?.revoked_coupons, 6);
  assert.equal(one.report?.released_holds_count, 3);
  assert.equal(two.report?.released_holds_count, 3);
  ids.reversed = one.id;
  ids.open = two.id;
  ids.outsider = (await store.listRedemptions({ campaign_id: c.id, limit: 1 })).data[0]?.id ?? '';
  await engine.close();
  await store.close();
  const db = new Database(join(baseline, 'vouchsafe.db'), { readonly: true });
  members = db.prepare('SELECT * FROM incident_redemptions ORDER BY redemption_id').all() as Member[];
  entries = db.prepare('SELECT seq, chain, action, subject, data FROM audit ORDER BY seq').all() as Entry[];
  db.close();
});

after(() => rmSync(root, { recursive: true, force: true }));

function member(pred: (m: Member) => boolean): Member {
  const m = members.find(pred);
  assert.ok(m, 'the baseline has such a member');
  return m;
}

/** The freeze entry that names a redemption. */
function frozeIt(redemption_id: string): number {
  const e = entries.find((x) => x.action === 'redemptions.frozen' && x.data.includes(`"${redemption_id}"`));
  assert.ok(e);
  return e.seq;
}

/** The release entry of an incident (each released its campaign's holds in one batch), and its ids. */
function releasedBy(incident_id: string): { seq: number; chain: string; ids: string[] } {
  const e = entries.find((x) => x.action === 'redemptions.released' && x.subject === incident_id);
  assert.ok(e, 'the baseline released holds');
  return { seq: e.seq, chain: e.chain, ids: JSON.parse(e.data).redemption_ids };
}

/** The campaign the open incident revoked coupons in. */
function revokedIn(): string {
  const e = entries.find((x) => x.action === 'coupons.revoked');
  assert.ok(e);
  return e.chain;
}

/** The first entry that named the bound the campaign keeps (both of its entries name the same one). */
function boundSetAt(): number {
  return entries.find((x) => x.action === 'coupons.revoked')?.seq ?? 0;
}

function tailOf(chain: string): number {
  const list = entries.filter((e) => e.chain === chain);
  return list[list.length - 1]?.seq ?? 0;
}

function tampered(name: string, tamper: (db: Database.Database) => void): string {
  const file = join(root, name, 'vouchsafe.db');
  const src = join(baseline, 'vouchsafe.db');
  mkdirSync(join(root, name), { recursive: true });
  copyFileSync(src, file);
  if (existsSync(`${src}-wal`)) copyFileSync(`${src}-wal`, `${file}-wal`);
  const db = new Database(file);
  tamper(db);
  db.close();
  return file;
}

async function verify(file: string) {
  const store = new SqliteStore({ path: file });
  try {
    return { store: await verifyStore(store), log: await verifyAuditLog(store) };
  } finally {
    await store.close();
  }
}

const insert =
  'INSERT INTO incident_redemptions (incident_id, campaign_id, redemption_id, outcome) VALUES (?, ?, ?, ?)';
const remove = 'DELETE FROM incident_redemptions WHERE incident_id = ? AND redemption_id = ?';

test('the baseline verifies, and its freeze and resolution entries name every id with its discount', async () => {
  const v = await verify(tampered('clean', () => undefined));
  assert.deepEqual(v.store.violations, []);
  assert.equal(v.log.ok, true);
  const outcomes = members.map((m) => m.outcome ?? 'pending').sort();
  assert.deepEqual([...new Set(outcomes)], ['pending', 'reversed', 'skipped']);
  for (const m of members) assert.ok(frozeIt(m.redemption_id) > 0);
  const reversed = entries.filter((e) => e.action === 'redemptions.reversed');
  assert.equal(reversed.length, 1);
  const data = JSON.parse(reversed[0]?.data ?? '{}');
  assert.equal(data.redemption_ids.length, data.count);
  assert.equal(data.skipped_ids.length, 1);
  assert.equal(
    data.discounts_minor.reduce((s: number, d: number) => s + d, 0),
    data.discount_minor,
  );
  // The first revocation entry sets the campaign's bound before any coupon is read; the second names the coupons.
  const revoked = entries.filter((e) => e.action === 'coupons.revoked').map((e) => JSON.parse(e.data));
  assert.deepEqual(
    revoked.map((d) => [d.count, d.coupon_ids.length]),
    [
      [0, 0],
      [6, 6],
    ],
  );
  assert.equal(revoked[0]?.through_id, revoked[1]?.through_id);
  assert.match(revoked[0]?.through_id ?? '', /^cpn_/);
  // Each freeze released its campaign's three holds, named in one entry before the frozen ones, none a member.
  for (const id of [ids.reversed, ids.open]) {
    const released = releasedBy(id);
    assert.equal(released.ids.length, 3);
    assert.ok(released.seq < frozeIt(member((m) => m.incident_id === id).redemption_id));
    for (const r of released.ids) assert.ok(!members.some((m) => m.redemption_id === r));
  }
});

const cases: Array<{ name: string; tamper: (db: Database.Database) => void; bad: () => number; says: RegExp }> = [
  {
    name: 'a member row deleted (the incident would no longer resolve that redemption)',
    tamper: (db) => db.prepare(remove).run(ids.open, member((m) => m.incident_id === ids.open).redemption_id),
    bad: () => frozeIt(member((m) => m.incident_id === ids.open).redemption_id),
    says: /frozen \(audited\) but is not a member/,
  },
  {
    name: 'a member row inserted for a redemption the incident never froze',
    tamper: (db) => {
      const m = member((x) => x.incident_id === ids.open);
      db.prepare(insert).run(ids.open, m.campaign_id, ids.outsider, null);
    },
    bad: () => tailOf(member((x) => x.incident_id === ids.open).campaign_id),
    says: /is in no freeze entry/,
  },
  {
    name: 'one member swapped for another redemption (the count still matches)',
    tamper: (db) => {
      const m = member((x) => x.incident_id === ids.reversed && x.outcome === 'reversed');
      db.prepare(remove).run(ids.reversed, m.redemption_id);
      db.prepare(insert).run(ids.reversed, m.campaign_id, ids.outsider, 'reversed');
    },
    bad: () => frozeIt(member((x) => x.incident_id === ids.reversed && x.outcome === 'reversed').redemption_id),
    says: /frozen \(audited\) but is not a member/,
  },
  {
    name: 'member rows inserted for an incident in a campaign no chain lists it in',
    tamper: (db) => {
      const outsider = entries.find(
        (e) => e.action === 'campaign.created' && !members.some((m) => m.campaign_id === e.chain),
      );
      db.prepare(insert).run('inc_forged', outsider?.chain ?? '', ids.outsider, null);
    },
    bad: () =>
      tailOf(
        entries.find((e) => e.action === 'campaign.created' && !members.some((m) => m.campaign_id === e.chain))
          ?.chain ?? '',
      ),
    says: /no freeze entry lists/,
  },
  {
    name: 'a pending member marked settled (its resolution would skip it, leaving it frozen)',
    tamper: (db) =>
      db
        .prepare('UPDATE incident_redemptions SET outcome = ? WHERE incident_id = ? AND redemption_id = ?')
        .run('honoured', ids.open, member((m) => m.incident_id === ids.open).redemption_id),
    bad: () => tailOf(member((m) => m.incident_id === ids.open).campaign_id),
    says: /is honoured, audited pending/,
  },
  {
    name: 'a revocation count raised (the report would claim a coupon more)',
    tamper: (db) => db.prepare('UPDATE incident_revocations SET coupons = coupons + 1').run(),
    bad: () => tailOf(member((m) => m.incident_id === ids.open).campaign_id),
    says: /revoked 7 coupons .* its entries name 6/,
  },
  {
    name: 'a released-holds count raised (the report would claim a hold more)',
    tamper: (db) => db.prepare('UPDATE incident_releases SET holds = holds + 1 WHERE incident_id = ?').run(ids.open),
    bad: () => tailOf(releasedBy(ids.open).chain),
    says: /released 4 holds .* its entries name 3 holds/,
  },
  {
    name: "an incident's released-holds row deleted (the report would show none)",
    tamper: (db) => db.prepare('DELETE FROM incident_releases WHERE incident_id = ?').run(ids.reversed),
    bad: () => tailOf(releasedBy(ids.reversed).chain),
    says: /released 3 holds .*, none counted/,
  },
  {
    name: 'a released hold set back to reserved (its checkout could confirm it)',
    tamper: (db) => {
      const [id] = releasedBy(ids.open).ids;
      db.prepare("UPDATE redemptions SET status = 'reserved' WHERE id = ?").run(id);
    },
    bad: () => releasedBy(ids.open).seq,
    says: /is reserved, audited released/,
  },
  {
    name: "a campaign's revocation bound lowered (a reversal would give back a coupon the incident covered)",
    tamper: (db) =>
      db
        .prepare("UPDATE campaigns SET doc = json_set(doc, '$.revoke_through_id', 'cpn_0') WHERE id = ?")
        .run(revokedIn()),
    bad: () => boundSetAt(),
    says: /revoke_through_id is cpn_0, its chain names cpn_/,
  },
  {
    name: "a campaign's revocation bound removed",
    tamper: (db) =>
      db.prepare("UPDATE campaigns SET doc = json_remove(doc, '$.revoke_through_id') WHERE id = ?").run(revokedIn()),
    bad: () => boundSetAt(),
    says: /revoke_through_id is unset, its chain names cpn_/,
  },
  {
    name: 'a revocation bound on a campaign no incident revoked in',
    tamper: (db) =>
      db
        .prepare("UPDATE campaigns SET doc = json_set(doc, '$.revoke_through_id', 'cpn_z') WHERE id = ?")
        .run(member((m) => m.incident_id === ids.reversed).campaign_id),
    bad: () => tailOf(member((m) => m.incident_id === ids.reversed).campaign_id),
    says: /revoke_through_id is cpn_z, its chain names none/,
  },
  {
    name: 'an id dropped from a freeze entry (with the row, to match)',
    tamper: (db) => {
      const m = member((x) => x.incident_id === ids.open);
      const seq = frozeIt(m.redemption_id);
      const e = entries.find((x) => x.seq === seq);
      db.prepare('UPDATE audit SET data = ? WHERE seq = ?').run(e?.data.replace(`"${m.redemption_id}",`, ''), seq);
      db.prepare(remove).run(ids.open, m.redemption_id);
    },
    bad: () => frozeIt(member((x) => x.incident_id === ids.open).redemption_id),
    says: /breaks at link/,
  },
  {
    name: 'an open incident set back to opening (verify stops holding its campaigns to the revocation bound), a coupon it revoked set active',
    tamper: (db) => {
      db.prepare(
        "UPDATE incidents SET status = 'opening', doc = json_set(doc, '$.status', 'opening') WHERE id = ?",
      ).run(ids.open);
      const coupon = db
        .prepare("SELECT min(id) AS id FROM coupons WHERE status = 'revoked' AND campaign_id = ?")
        .get(revokedIn()) as { id: string };
      db.prepare("UPDATE coupons SET status = 'active' WHERE id = ?").run(coupon.id);
    },
    bad: () => platformEntry('incident.opened', ids.open),
    says: /incident inc_\w+ is opening, audited open/,
  },
  {
    name: 'a resolved incident deleted',
    tamper: (db) => db.prepare('DELETE FROM incidents WHERE id = ?').run(ids.reversed),
    bad: () => platformEntry('incident.resolved', ids.reversed),
    says: /incident inc_\w+ is audited but not stored/,
  },
];

/** The seq of the platform chain's `action` entry for an incident. */
function platformEntry(action: string, incident_id: string): number {
  const e = entries.find((x) => x.chain === 'platform' && x.action === action && x.subject === incident_id);
  assert.ok(e, `${action} of ${incident_id}`);
  return e.seq;
}

for (const [i, c] of cases.entries()) {
  test(`incident membership tampering is caught: ${c.name}`, async () => {
    const v = await verify(tampered(`case-${i}`, c.tamper));
    assert.equal(v.log.ok, false);
    assert.equal(v.log.first_bad_seq, c.bad(), JSON.stringify(v.log));
    assert.match(v.log.detail ?? '', c.says);
    assert.equal(v.store.ok, false);
    assert.ok(
      v.store.violations.some((x) => x.invariant === '7'),
      JSON.stringify(v.store.violations),
    );
  });
}
