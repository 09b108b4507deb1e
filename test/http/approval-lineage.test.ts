import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { rotateApiKey } from '../../src/http/api-key-lifecycle.ts';
import { createApiKey, type Scope } from '../../src/http/api-keys.ts';
import type { CampaignWire } from '../../src/http/views.ts';
import type { Store } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { createTestDatabase, freshPostgresStore, pg_unavailable_message, type TestDatabase } from '../support/pg.ts';
import { type Answer, assertError, campaignBody, type HttpHarness, httpHarness } from './harness.ts';

/**
 * Maker-checker across keys: a key may not approve a campaign made (or changed) by a key in its own
 * lineage (itself, what it replaced by rotation, who created it, transitively), nor by a key whose
 * lineage holds it. The harness's keys are roots of their own (made with no creator, as the
 * bootstrap key and `vouchsafe keys create` are).
 */

type Made = { id: string; key: string };

async function send<T>(h: HttpHarness, secret: string, url: string, body: unknown = {}): Promise<Answer<T>> {
  const res = await h.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json() as T, headers: res.headers };
}

/** A key minted over HTTP by the key whose secret is `by`. */
async function mint(h: HttpHarness, by: string, scopes: Scope[], name = 'minted'): Promise<Made> {
  const res = await send<Made>(h, by, '/v1/api-keys', { name, scopes });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** A campaign in pending_approval (no per-user limit is a warning), made and submitted with `by`. */
async function pending(h: HttpHarness, by: string): Promise<CampaignWire> {
  const created = await send<CampaignWire>(h, by, '/v1/campaigns', campaignBody({ per_user_limit: null }));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const submitted = await send<CampaignWire>(h, by, `/v1/campaigns/${created.body.id}/submit`);
  assert.equal(submitted.body.status, 'pending_approval', JSON.stringify(submitted.body));
  return submitted.body;
}

/** The approval is refused with approval_self_forbidden, its message matching `why`, and nothing changes. */
async function refused(h: HttpHarness, secret: string, c: CampaignWire, why: RegExp): Promise<void> {
  const chain = (await h.store.auditChain(c.id)).length;
  const res = await send(h, secret, `/v1/campaigns/${c.id}/approve`);
  assertError(res, 403, 'approval_self_forbidden');
  assert.match((res.body as { error: { message: string } }).error.message, why);
  assert.equal((await h.store.getCampaign(c.id))?.status, 'pending_approval');
  assert.equal((await h.store.auditChain(c.id)).length, chain, 'a refusal writes no audit entry');
}

async function approved(h: HttpHarness, secret: string, c: CampaignWire): Promise<CampaignWire> {
  const res = await send<CampaignWire>(h, secret, `/v1/campaigns/${c.id}/approve`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.status, 'active');
  return res.body;
}

function lineageSuite(name: string, open: () => Promise<Store>): void {
  describe(`approval refused across a maker's key lineage (${name})`, () => {
    const setup = async () => httpHarness({}, {}, await open());

    test("a maker's own key, rotated: the successor replaces the maker, 403", async () => {
      const h = await setup();
      const admin = h.keys.admin;
      const c = await pending(h, admin.secret);
      const rotated = await send<Made>(h, admin.secret, `/v1/api-keys/${admin.id}/rotate`);
      assert.equal(rotated.status, 201, JSON.stringify(rotated.body));
      await refused(h, rotated.body.key, c, new RegExp(`\\(${rotated.body.id} replaces ${admin.id}\\)`));
      // Rotated again (by itself): still the maker.
      const again = await send<Made>(h, rotated.body.key, `/v1/api-keys/${rotated.body.id}/rotate`);
      await refused(h, again.body.key, c, /replaces/);
      await approved(h, h.keys.approver.secret, c);
      await h.store.close();
    });

    test('an approver key the maker mints for itself: 403; one minted two levels down: 403', async () => {
      const h = await setup();
      const admin = h.keys.admin;
      const c = await pending(h, admin.secret);
      const own = await mint(h, admin.secret, ['approver']);
      await refused(
        h,
        own.key,
        c,
        new RegExp(`created by or replaces one of the campaign's makers \\(${own.id} was created by ${admin.id}\\)`),
      );
      const deputy = await mint(h, admin.secret, ['admin'], 'deputy');
      const grand = await mint(h, deputy.key, ['approver']);
      await refused(
        h,
        grand.key,
        c,
        new RegExp(`\\(${grand.id} was created by ${deputy.id}, which was created by ${admin.id}\\)`),
      );
      await refused(h, deputy.key, c, /was created by/);
      await approved(h, h.keys.approver.secret, c);
      await h.store.close();
    });

    test("the maker rotating an independent approver's key is handed its secret: the successor is refused", async () => {
      const h = await setup();
      const c = await pending(h, h.keys.admin.secret);
      const taken = await send<Made>(h, h.keys.admin.secret, `/v1/api-keys/${h.keys.approver.id}/rotate`);
      assert.equal(taken.status, 201);
      await refused(h, taken.body.key, c, new RegExp(`\\(${taken.body.id} was created by ${h.keys.admin.id}\\)`));
      // Rotated on the server (the CLI: no creator), the approver's successor is independent again.
      const cli = await rotateApiKey(h.store, h.engine.ids, h.clock.now(), taken.body.id, {
        actor: 'cli',
        created_by: null,
      });
      await refused(h, cli.secret, c, /which was created by/);
      await h.store.close();
    });

    test('a key may not approve the work of keys it made, nor of a key a later maker made', async () => {
      const h = await setup();
      const made = await mint(h, h.keys.admin2.secret, ['admin'], 'campaigns');
      const c = await pending(h, made.key);
      await refused(
        h,
        h.keys.admin2.secret,
        c,
        new RegExp(
          `makers was created by or replaces the approving key \\(${made.id} was created by ${h.keys.admin2.id}\\): a key may not approve the work of keys it made`,
        ),
      );
      // A change by another key makes it a maker too: its own keys are refused as well.
      const other = await pending(h, h.keys.admin.secret);
      const changed = await send(h, h.keys.admin2.secret, `/v1/campaigns/${other.id}`, { budget_minor: 200_000 });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      await refused(h, (await mint(h, h.keys.admin2.secret, ['approver'])).key, other, /was created by/);
      await h.store.close();
    });

    test('approved: a key of another root (the CLI, another admin), its rotation by the CLI; the audit records the lineage', async () => {
      const h = await setup();
      const a = await pending(h, h.keys.admin.secret);
      const b = await pending(h, h.keys.admin.secret);
      const c = await pending(h, h.keys.admin.secret);
      // As `vouchsafe keys create` makes it: no creator.
      const cli = await createApiKey(h.store, h.engine.ids, h.clock.now(), {
        name: 'reviewer',
        scopes: ['approver'],
        actor: 'cli',
        created_by: null,
      });
      await approved(h, cli.secret, a);
      const entry = (await h.store.auditChain(a.id)).at(-1);
      assert.equal(entry?.action, 'campaign.approve');
      assert.deepEqual(JSON.parse(entry?.data_json ?? '{}').approver_lineage, [cli.record.id]);
      // Minted by another root (admin2, which made nothing here): siblings are not each other's lineage.
      const sibling = await mint(h, h.keys.admin2.secret, ['approver']);
      await approved(h, sibling.key, b);
      const b_entry = (await h.store.auditChain(b.id)).at(-1);
      assert.deepEqual(JSON.parse(b_entry?.data_json ?? '{}').approver_lineage, [sibling.id, h.keys.admin2.id]);
      const rotated = await rotateApiKey(h.store, h.engine.ids, h.clock.now(), cli.record.id, {
        actor: 'cli',
        created_by: null,
      });
      await approved(h, rotated.secret, c);
      await h.store.close();
    });

    test("the key list shows each key's lineage: who created it and what it replaced", async () => {
      const h = await setup();
      const admin = h.keys.admin;
      const minted = await mint(h, admin.secret, ['approver'], 'reviewer');
      const rotated = await send<Made>(h, h.keys.admin2.secret, `/v1/api-keys/${minted.id}/rotate`);
      assert.equal(rotated.status, 201, JSON.stringify(rotated.body));
      const list = await h.app.inject({
        method: 'GET',
        url: '/v1/api-keys?limit=100',
        headers: { authorization: `Bearer ${admin.secret}` },
      });
      assert.equal(list.statusCode, 200, list.body);
      type Listed = { id: string; created_by: string | null; replaces: string | null };
      const byId = new Map((list.json() as { data: Listed[] }).data.map((k) => [k.id, k]));
      assert.deepEqual(byId.get(minted.id), { ...byId.get(minted.id), created_by: admin.id, replaces: null });
      assert.deepEqual(byId.get(rotated.body.id), {
        ...byId.get(rotated.body.id),
        created_by: h.keys.admin2.id,
        replaces: minted.id,
      });
      // The harness's keys are roots, as the bootstrap key is.
      assert.deepEqual(byId.get(admin.id), { ...byId.get(admin.id), created_by: null, replaces: null });
      const current = await h.app.inject({
        method: 'GET',
        url: '/v1/api-keys/current',
        headers: { authorization: `Bearer ${rotated.body.key}` },
      });
      assert.equal(current.json().replaces, minted.id);
      await h.store.close();
    });
  });
}

lineageSuite('SQLite', async () => new SqliteStore({ path: ':memory:' }));

const pg: TestDatabase | null = await createTestDatabase();
after(() => pg?.drop());
if (pg) lineageSuite('PostgreSQL', () => freshPostgresStore(pg));
else test.skip(pg_unavailable_message);
