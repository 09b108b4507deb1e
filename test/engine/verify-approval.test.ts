import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { verifyStore } from '../../src/engine/verify.ts';
import { createApiKey } from '../../src/http/api-keys.ts';
import type { Store } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { assertInvariants, type Harness, harness, spec } from '../support/fixtures.ts';
import { createTestDatabase, freshPostgresStore, pg_unavailable_message } from '../support/pg.ts';

/**
 * Maker-checker held to the chain: the row's maker fields are what the engine judges an approval by,
 * so an edit to them lets a maker approve its own work (the engine, reading the edited row, agrees).
 * Each case edits the row (or a key's origin) the way a DB writer would, lets the maker approve
 * through the engine, and expects verify to name the approval or the edited field. A store made
 * through the engine by the rules verifies clean first.
 */

interface Backend {
  store: Store;
  /** Runs statements on the store's database through a connection of its own (the same SQL on both). */
  exec: (...sql: string[]) => Promise<void>;
}

/** Edits one field of a campaign's document (stored as JSON text) by replacing its exact text. */
const editDoc = (id: string, from: string, to: string) =>
  `UPDATE campaigns SET doc = replace(doc, '${from}', '${to}') WHERE id = '${id}'`;

/** A campaign pending approval, made by `maker`, then changed by `changers` in turn (draft changes), then submitted. */
async function pendingCampaign(h: Harness, maker: string, changers: string[]): Promise<string> {
  // No per-user limit is a lint warning: submit sends it to pending_approval.
  const c = await h.engine.createCampaign(spec({ per_user_limit: null }), { actor: maker });
  for (const [i, actor] of changers.entries()) await h.engine.updateCampaign(c.id, { name: `v${i}` }, { actor });
  const submitted = await h.engine.campaignAction(c.id, 'submit', { actor: maker });
  assert.equal(submitted.status, 'pending_approval');
  return c.id;
}

function lines(report: Awaited<ReturnType<typeof verifyStore>>): string[] {
  return report.violations.map((v) => `invariant ${v.invariant} ${v.campaign_id ?? 'platform'}: ${v.detail}`);
}

function assertSays(report: Awaited<ReturnType<typeof verifyStore>>, says: string): void {
  assert.equal(report.ok, false, 'verify must fail');
  const all = lines(report);
  assert.ok(
    all.some((l) => l.includes(says)),
    `verify must say "${says}":\n${all.join('\n')}`,
  );
}

function suite(name: string, open: (label: string) => Promise<Backend>): void {
  describe(`verify holds maker-checker to the chain (${name})`, () => {
    test('campaigns made, changed and approved by the rules (keys with lineage too) verify clean', async () => {
      const b = await open('clean');
      const h = await harness({}, b.store);
      const id = await pendingCampaign(h, 'key_maker', ['key_a', 'key_b', 'key_a']);
      await h.engine.campaignAction(id, 'approve', { actor: 'key_checker' });
      // A risky change to the active campaign withdraws the approval; another key approves again.
      await h.engine.updateCampaign(id, { budget_minor: 50_000_000 }, { actor: 'key_c' });
      await h.engine.campaignAction(id, 'approve', { actor: 'key_a' });
      const root = await createApiKey(b.store, h.engine.ids, h.clock.now(), {
        name: 'r',
        scopes: ['admin'],
        actor: null,
      });
      const other = await createApiKey(b.store, h.engine.ids, h.clock.now(), {
        name: 'o',
        scopes: ['admin'],
        actor: null,
      });
      const minted = await createApiKey(b.store, h.engine.ids, h.clock.now(), {
        name: 'm',
        scopes: ['approver'],
        actor: other.record.id,
      });
      const own = await pendingCampaign(h, root.record.id, []);
      await h.engine.campaignAction(own, 'approve', { actor: minted.record.id });
      await assertInvariants(b.store);
      await h.engine.close();
      await b.store.close();
    });

    test("a changer dropped from the row's changed_since_approval approves its own change", async () => {
      const b = await open('dropped');
      const h = await harness({}, b.store);
      const id = await pendingCampaign(h, 'key_maker', ['key_x', 'key_y']);
      await b.exec(editDoc(id, '"changed_since_approval":["key_x","key_y"]', '"changed_since_approval":["key_y"]'));
      // The engine judges by the edited row: key_x is neither creator, last changer, nor listed.
      await h.engine.campaignAction(id, 'approve', { actor: 'key_x' });
      assertSays(await verifyStore(b.store), `campaign ${id} was approved by key_x, one of its makers`);
      await h.engine.close();
      await b.store.close();
    });

    test('a changer dropped from the row before the next change: that change records the list without it', async () => {
      const b = await open('dropped-early');
      const h = await harness({}, b.store);
      const id = await pendingCampaign(h, 'key_maker', ['key_x']);
      await b.exec(editDoc(id, '"changed_since_approval":["key_x"]', '"changed_since_approval":[]'));
      await h.engine.updateCampaign(id, { name: 'later' }, { actor: 'key_y' });
      const report = await verifyStore(b.store);
      assertSays(report, `campaign ${id} change records its makers without key_x, who changed it`);
      await h.engine.close();
      await b.store.close();
    });

    test('the creator renamed in the row approves its own campaign; the row put back, the approval still shows', async () => {
      const b = await open('creator');
      const h = await harness({}, b.store);
      const id = await pendingCampaign(h, 'key_maker', []);
      await b.exec(
        editDoc(id, '"created_by":"key_maker","changed_by":"key_maker"', '"created_by":"key_z","changed_by":"key_z"'),
      );
      assertSays(await verifyStore(b.store), `campaign ${id} created_by is "key_z", audited "key_maker"`);
      await h.engine.campaignAction(id, 'approve', { actor: 'key_maker' });
      await b.exec(
        editDoc(id, '"created_by":"key_z","changed_by":"key_z"', '"created_by":"key_maker","changed_by":"key_maker"'),
      );
      assertSays(await verifyStore(b.store), `campaign ${id} was approved by key_maker, one of its makers`);
      await h.engine.close();
      await b.store.close();
    });

    test('approved_by naming a key that never approved', async () => {
      const b = await open('approved-by');
      const h = await harness({}, b.store);
      const id = await pendingCampaign(h, 'key_maker', []);
      await h.engine.campaignAction(id, 'approve', { actor: 'key_checker' });
      await b.exec(editDoc(id, '"approved_by":"key_checker"', '"approved_by":"key_ceo"'));
      assertSays(await verifyStore(b.store), `campaign ${id} approved_by is "key_ceo", audited "key_checker"`);
      await h.engine.close();
      await b.store.close();
    });

    test("a key its maker minted, its creator cleared, approves the maker's campaign; cleared or put back, it shows", async () => {
      const b = await open('lineage');
      const h = await harness({}, b.store);
      const root = await createApiKey(b.store, h.engine.ids, h.clock.now(), {
        name: 'r',
        scopes: ['admin'],
        actor: null,
      });
      const minted = await createApiKey(b.store, h.engine.ids, h.clock.now(), {
        name: 'm',
        scopes: ['approver'],
        actor: root.record.id,
      });
      const id = await pendingCampaign(h, root.record.id, []);
      await assert.rejects(h.engine.campaignAction(id, 'approve', { actor: minted.record.id }), /created by/);
      await b.exec(`UPDATE api_keys SET created_by = NULL WHERE id = '${minted.record.id}'`);
      await h.engine.campaignAction(id, 'approve', { actor: minted.record.id });
      assertSays(
        await verifyStore(b.store),
        `API key ${minted.record.id} was created by none, audited ${root.record.id}`,
      );
      await b.exec(`UPDATE api_keys SET created_by = '${root.record.id}' WHERE id = '${minted.record.id}'`);
      assertSays(
        await verifyStore(b.store),
        `campaign ${id} was approved by ${minted.record.id}: the approving key was created by`,
      );
      await h.engine.close();
      await b.store.close();
    });
  });
}

const root = mkdtempSync(join(tmpdir(), 'vs-verify-approval-'));
after(() => rmSync(root, { recursive: true, force: true }));

suite('SQLite', async (label) => {
  const path = join(root, `${label}.db`);
  const store = new SqliteStore({ path });
  const exec = async (...sql: string[]) => {
    const db = new Database(path);
    try {
      for (const s of sql) assert.equal(db.prepare(s).run().changes, 1, s);
    } finally {
      db.close();
    }
  };
  return { store, exec };
});

const db = await createTestDatabase();
after(() => db?.drop());

if (db) {
  const base = db;
  suite('PostgreSQL', async () => {
    const store = await freshPostgresStore(base);
    const exec = async (...sql: string[]) => {
      const client = new pg.Client({ connectionString: base.url });
      await client.connect();
      try {
        for (const s of sql) assert.equal((await client.query(s)).rowCount, 1, s);
      } finally {
        await client.end();
      }
    };
    return { store, exec };
  });
} else {
  test.skip(pg_unavailable_message);
}
