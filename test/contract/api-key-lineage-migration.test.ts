import assert from 'node:assert/strict';
import { rotateApiKey } from '../../src/http/api-key-lifecycle.ts';
import { createApiKey } from '../../src/http/api-keys.ts';
import type { ApiKeyRecord, Store } from '../../src/store/port.ts';
import { harness, rejects, spec } from '../support/fixtures.ts';
import { describeMigrationRerun, type MigrationAdapter } from '../support/migration-rerun.ts';

/**
 * Migration 130 gives every stored key its origin (created_by, replaces) from the platform chain,
 * which has always recorded them. Keys are made by today's code (bootstrap, CLI, minted over HTTP,
 * rotated by their maker and by the CLI), the columns dropped as before the migration, and the store
 * migrated again: each key gets back the origin it was made with, and the approval check holds.
 */
async function origins(store: Store): Promise<Array<Pick<ApiKeyRecord, 'id' | 'created_by' | 'replaces'>>> {
  return (await store.listApiKeys()).map(({ id, created_by, replaces }) => ({ id, created_by, replaces }));
}

async function backfills(a: MigrationAdapter): Promise<void> {
  const h = await harness({ approval_threshold_minor: 0 }, a.open());
  const { ids } = h.engine;
  const now = () => h.clock.now();
  const boot = await createApiKey(h.store, ids, now(), { name: 'bootstrap admin', scopes: ['admin'], actor: null });
  const cli = await createApiKey(h.store, ids, now(), {
    name: 'ops',
    scopes: ['approver'],
    actor: 'cli',
    created_by: null,
  });
  const minted = await createApiKey(h.store, ids, now(), { name: 'mine', scopes: ['approver'], actor: boot.record.id });
  const self = await rotateApiKey(h.store, ids, now(), boot.record.id, { actor: boot.record.id });
  const by_cli = await rotateApiKey(h.store, ids, now(), cli.record.id, { actor: 'cli', created_by: null });
  const maker = { actor: boot.record.id };
  const c = await h.engine.createCampaign(spec(), maker);
  assert.equal((await h.engine.campaignAction(c.id, 'submit', maker)).status, 'pending_approval');
  const before = await origins(h.store);
  assert.deepEqual(
    new Map(before.map((k) => [k.id, [k.created_by, k.replaces]])),
    new Map([
      [boot.record.id, [null, null]],
      [cli.record.id, [null, null]],
      [minted.record.id, [boot.record.id, null]],
      [self.record.id, [boot.record.id, boot.record.id]],
      [by_cli.record.id, [null, cli.record.id]],
    ]),
  );
  await h.engine.close();
  await h.store.close();

  assert.equal(await a.forget(), 0, 'the columns are gone, as before the migration');
  const store = a.open();
  try {
    await store.migrate();
    assert.deepEqual(await origins(store), before, 'each key has the origin its audit entries recorded');
    const again = await harness({ approval_threshold_minor: 0 }, store);
    for (const key of [minted, self]) {
      await rejects(again.engine.campaignAction(c.id, 'approve', { actor: key.record.id }), 'approval_self_forbidden');
    }
    const ok = await again.engine.campaignAction(c.id, 'approve', { actor: by_cli.record.id });
    assert.equal(ok.status, 'active');
    await again.engine.close();
  } finally {
    await store.close();
  }
}

const undo = [
  'ALTER TABLE api_keys DROP COLUMN created_by',
  'ALTER TABLE api_keys DROP COLUMN replaces',
  "DELETE FROM migrations_applied WHERE id = '130_api_key_lineage'",
];

describeMigrationRerun(
  'migration 130: API keys get their creator and predecessor from the platform chain',
  {
    sqlite: {
      undo,
      left: "SELECT count(*) AS n FROM pragma_table_info('api_keys') WHERE name IN ('created_by', 'replaces')",
    },
    postgres: {
      undo,
      left: `SELECT count(*) AS n FROM information_schema.columns
        WHERE table_name = 'api_keys' AND column_name IN ('created_by', 'replaces')`,
    },
  },
  backfills,
);
