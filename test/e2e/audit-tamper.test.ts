import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import type { Campaign } from '../../src/domain/campaign.ts';
import { ManualClock } from '../../src/engine/clock.ts';
import { Engine } from '../../src/engine/engine.ts';
import { Webhooks } from '../../src/events/webhooks.ts';
import { createApiKey } from '../../src/http/api-keys.ts';
import { buildApp } from '../../src/http/app.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, order, t0 } from '../support/fixtures.ts';
import { runCli } from '../support/node-process.ts';

type Row = { seq: number; chain: string; chain_seq: number; action: string; data: string };
type Verify = { ok: boolean; entries: number; first_bad_seq: number | null };

const root = mkdtempSync(join(tmpdir(), 'vs-tamper-'));
const baseline = join(root, 'baseline');
let rows: Row[] = [];
/** An admin key made in the baseline: verifying must not append to the chains it checks. */
let admin_secret = '';

/** A store with every kind of audited change: keys, webhooks, a campaign, claims and redemptions. */
before(async () => {
  const store = new SqliteStore({ path: join(baseline, 'vouchsafe.db') });
  const clock = new ManualClock(t0 + 60_000);
  const engine = await Engine.open(store, { clock, approval_threshold_minor: Number.MAX_SAFE_INTEGER });
  admin_secret = (await createApiKey(store, engine.ids, clock.now(), { name: 'admin', scopes: ['admin'], actor: null }))
    .secret;
  const webhooks = new Webhooks(engine, { allow_private: true });
  const w = await webhooks.create({ url: 'http://127.0.0.1:9/hook', events: ['campaign.paused'] }, 'key_admin');
  const c = await activeCampaign({ store, engine, clock });
  for (const user_id of ['u1', 'u2', 'u3']) {
    const coupon = await engine.claim({ campaign_id: c.id, user_id }, { actor: 'key_checkout' });
    const input = { user_id, coupon_id: coupon.id, order: order({ id: `o-${user_id}` }), confirm: true };
    await engine.redeem(input, { actor: 'key_checkout' });
  }
  await engine.campaignAction(c.id, 'pause', { actor: 'key_ops' }, 'drill');
  await webhooks.delete(w.id, 'key_admin');
  await engine.close();
  await store.close();
  const db = new Database(join(baseline, 'vouchsafe.db'), { readonly: true });
  rows = db.prepare('SELECT seq, chain, chain_seq, action, data FROM audit ORDER BY seq').all() as Row[];
  db.close();
});

after(() => rmSync(root, { recursive: true, force: true }));

function row(pred: (r: Row) => boolean): Row {
  const r = rows.find(pred);
  assert.ok(r, 'the baseline has such an entry');
  return r;
}

/** A copy of the baseline with `tamper` applied to its database file. */
function tampered(name: string, tamper: (db: Database.Database) => void): string {
  const dir = join(root, name);
  rmSync(dir, { recursive: true, force: true });
  const file = join(dir, 'vouchsafe.db');
  const src = join(baseline, 'vouchsafe.db');
  mkdirSync(dir, { recursive: true });
  copyFileSync(src, file);
  if (existsSync(`${src}-wal`)) copyFileSync(`${src}-wal`, `${file}-wal`);
  const db = new Database(file);
  tamper(db);
  db.close();
  return dir;
}

/** What GET /v1/audit/verify answers for a data dir. */
async function httpVerify(dir: string): Promise<Verify> {
  const store = new SqliteStore({ path: join(dir, 'vouchsafe.db') });
  const engine = await Engine.open(store);
  const app = buildApp({ engine });
  try {
    const headers = { authorization: `Bearer ${admin_secret}` };
    const res = await app.inject({ method: 'GET', url: '/v1/audit/verify', headers });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as Verify;
  } finally {
    await app.close();
    await engine.close();
    await store.close();
  }
}

async function cliVerify(dir: string): Promise<{ code: number | null; out: string }> {
  return runCli(['verify', '--data-dir', dir], { DATABASE_URL: '', VOUCHSAFE_DATA_DIR: dir });
}

test('the untouched store verifies, over HTTP and with vouchsafe verify', async () => {
  const v = await httpVerify(tampered('clean', () => undefined));
  assert.equal(v.ok, true);
  assert.equal(v.entries, rows.length);
  assert.equal(v.first_bad_seq, null);
  const cli = await cliVerify(join(root, 'clean'));
  assert.equal(cli.code, 0, cli.out);
  const actions = new Set(rows.map((r) => r.action));
  for (const a of [
    'api_key.created',
    'webhook.created',
    'webhook.deleted',
    'campaign.created',
    'campaign.submit',
    'batch',
    'campaign.pause',
  ]) {
    assert.ok(actions.has(a), `${a} is audited`);
  }
});

const cases: Array<{ name: string; tamper: (db: Database.Database) => void; bad: () => number }> = [
  {
    name: 'changed data of a campaign entry',
    tamper: (db) =>
      db
        .prepare(
          "UPDATE audit SET data = replace(data, '\"budget_minor\":100000', '\"budget_minor\":900000') WHERE action = 'campaign.created'",
        )
        .run(),
    bad: () => row((r) => r.action === 'campaign.created').seq,
  },
  {
    name: 'an amount changed inside a batch entry',
    tamper: (db) => {
      const r = row((x) => x.action === 'batch' && x.data.includes('"discount_minor":1000'));
      db.prepare('UPDATE audit SET data = ? WHERE seq = ?').run(
        r.data.replace('"discount_minor":1000', '"discount_minor":10'),
        r.seq,
      );
    },
    bad: () => row((x) => x.action === 'batch' && x.data.includes('"discount_minor":1000')).seq,
  },
  {
    name: 'a deleted row in the middle of a campaign chain',
    tamper: (db) => db.prepare('DELETE FROM audit WHERE seq = ?').run(campaignRow(2).seq),
    bad: () => campaignRow(3).seq,
  },
  {
    name: "a deleted last row of a campaign's chain",
    tamper: (db) => db.prepare('DELETE FROM audit WHERE seq = ?').run(campaignTail().seq),
    bad: () => campaignRow(campaignTail().chain_seq - 1).seq,
  },
  {
    name: 'a deleted last row of the platform chain',
    tamper: (db) => db.prepare('DELETE FROM audit WHERE seq = ?').run(platformTail().seq),
    bad: () => row((r) => r.chain === 'platform' && r.chain_seq === platformTail().chain_seq - 1).seq,
  },
  {
    name: 'two links of a chain swapped',
    tamper: (db) => {
      const [a, b] = [campaignRow(3), campaignRow(4)];
      const set = db.prepare('UPDATE audit SET chain_seq = ? WHERE seq = ?');
      set.run(-1, a.seq);
      set.run(3, b.seq);
      set.run(4, a.seq);
    },
    bad: () => campaignRow(4).seq,
  },
  {
    name: 'two entries reordered in the global log',
    tamper: (db) => {
      const [a, b] = [campaignRow(3), campaignRow(4)];
      const set = db.prepare('UPDATE audit SET seq = ? WHERE seq = ?');
      set.run(-1, a.seq);
      set.run(a.seq, b.seq);
      set.run(b.seq, -1);
    },
    bad: () => campaignRow(3).seq,
  },
  {
    name: "a redemption's discount_minor (and the campaign's spent, to match)",
    tamper: (db) => {
      const r = db.prepare('SELECT id, campaign_id FROM redemptions ORDER BY id LIMIT 1').get() as {
        id: string;
        campaign_id: string;
      };
      db.prepare('UPDATE redemptions SET discount_minor = 1 WHERE id = ?').run(r.id);
      const doc = JSON.parse(
        String((db.prepare('SELECT doc FROM campaigns WHERE id = ?').get(r.campaign_id) as { doc: string }).doc),
      );
      doc.spent_minor -= 999;
      db.prepare('UPDATE campaigns SET doc = ? WHERE id = ?').run(JSON.stringify(doc), r.campaign_id);
    },
    bad: () => row((x) => x.action === 'batch' && x.data.includes('"discount_minor":1000')).seq,
  },
  {
    name: 'a confirmed redemption moved to reversed, with counters and usage edited to match (budget freed to spend again)',
    tamper: (db) => {
      const r = firstRedemption(db);
      db.prepare("UPDATE redemptions SET status = 'reversed' WHERE id = ?").run(r.id);
      uncount(db, r);
      editCampaign(db, r.campaign_id, (doc) => {
        doc.reversed_minor += r.discount_minor;
        doc.reversed_count += 1;
      });
    },
    bad: () => batchOf(firstId),
  },
  {
    name: 'a confirmed redemption deleted, with counters and usage edited to match',
    tamper: (db) => {
      const r = firstRedemption(db);
      db.prepare('DELETE FROM redemptions WHERE id = ?').run(r.id);
      uncount(db, r);
    },
    bad: () => batchOf(firstId),
  },
  {
    name: "the campaign's budget_minor raised in its row alone",
    tamper: (db) => editCampaign(db, campaignId(db), (doc) => (doc.budget_minor += 900_000)),
    bad: () => row((r) => r.action === 'campaign.created').seq,
  },
  {
    name: 'a paused campaign set active in its row alone',
    tamper: (db) => {
      const id = campaignId(db);
      editCampaign(db, id, (doc) => (doc.status = 'active'));
      db.prepare("UPDATE campaigns SET status = 'active' WHERE id = ?").run(id);
    },
    bad: () => row((r) => r.action === 'campaign.pause').seq,
  },
  {
    name: 'a campaign row edited into a shape the checks cannot read (null audience): reported, not a crash',
    tamper: (db) => editCampaign(db, campaignId(db), (doc) => Object.assign(doc, { audience: null })),
    bad: () => row((r) => r.action === 'campaign.created').seq,
  },
  {
    name: 'a campaign row that is not JSON: reported, not a crash',
    tamper: (db) => db.prepare("UPDATE campaigns SET doc = '{not json'").run(),
    bad: () => campaignTail().seq,
  },
  {
    name: 'an admin API key inserted behind the audit',
    tamper: (db) =>
      db
        .prepare(
          `INSERT INTO api_keys (id, name, hash, scopes, created_at_ms) VALUES ('key_forged', 'x', '${'f'.repeat(64)}', '["admin"]', 0)`,
        )
        .run(),
    bad: () => platformTail().seq,
  },
  {
    name: "an API key's scopes widened in its row alone",
    tamper: (db) => db.prepare(`UPDATE api_keys SET scopes = '["admin","approver"]'`).run(),
    bad: () => row((r) => r.action === 'api_key.created').seq,
  },
  {
    name: 'an API key row whose scopes are not JSON: reported, not a crash',
    tamper: (db) =>
      db
        .prepare(
          `INSERT INTO api_keys (id, name, hash, scopes, created_at_ms) VALUES ('key_forged', 'x', '${'f'.repeat(64)}', '{not json', 0)`,
        )
        .run(),
    bad: () => platformTail().seq,
  },
];

type RedemptionRow = { id: string; campaign_id: string; user_id: string; discount_minor: number };
/** The id of the redemption the last case that called firstRedemption edited. */
let firstId = '';

function firstRedemption(db: Database.Database): RedemptionRow {
  const r = db
    .prepare('SELECT id, campaign_id, user_id, discount_minor FROM redemptions ORDER BY id LIMIT 1')
    .get() as RedemptionRow;
  firstId = r.id;
  return r;
}

/** Takes a confirmed redemption out of its campaign's spend, count and user's usage, as if it never counted. */
function uncount(db: Database.Database, r: RedemptionRow): void {
  db.prepare('UPDATE usage SET count = count - 1 WHERE campaign_id = ? AND key = ?').run(
    r.campaign_id,
    `user:${r.user_id}`,
  );
  editCampaign(db, r.campaign_id, (doc) => {
    doc.spent_minor -= r.discount_minor;
    doc.confirmed_count -= 1;
  });
}

function campaignId(db: Database.Database): string {
  return (db.prepare('SELECT id FROM campaigns LIMIT 1').get() as { id: string }).id;
}

function editCampaign(db: Database.Database, id: string, edit: (doc: Campaign) => void) {
  const doc = JSON.parse(
    String((db.prepare('SELECT doc FROM campaigns WHERE id = ?').get(id) as { doc: string }).doc),
  ) as Campaign;
  edit(doc);
  db.prepare('UPDATE campaigns SET doc = ? WHERE id = ?').run(JSON.stringify(doc), id);
}

/** The batch entry that recorded a redemption. */
function batchOf(id: string): number {
  return row((r) => r.action === 'batch' && r.data.includes(id)).seq;
}

function campaignRow(chain_seq: number): Row {
  return row((r) => r.chain !== 'platform' && r.chain_seq === chain_seq);
}

function campaignTail(): Row {
  const list = rows.filter((r) => r.chain !== 'platform');
  const tail = list[list.length - 1];
  assert.ok(tail);
  return tail;
}

function platformTail(): Row {
  const list = rows.filter((r) => r.chain === 'platform');
  const tail = list[list.length - 1];
  assert.ok(tail);
  return tail;
}

for (const [i, c] of cases.entries()) {
  test(`tampering is caught: ${c.name}`, async () => {
    const dir = tampered(`case-${i}`, c.tamper);
    const v = await httpVerify(dir);
    assert.equal(v.ok, false, JSON.stringify(v));
    assert.equal(v.first_bad_seq, c.bad(), JSON.stringify(v));
    const cli = await cliVerify(dir);
    assert.notEqual(cli.code, 0, cli.out);
    assert.match(cli.out, /VIOLATIONS/);
  });
}

test('verify refuses a data dir that holds no store, and creates nothing there', async () => {
  const dir = join(root, 'no-such-dir');
  const cli = await cliVerify(dir);
  assert.equal(cli.code, 1, cli.out);
  assert.match(cli.out, /no store at/);
  assert.equal(existsSync(dir), false);
});
