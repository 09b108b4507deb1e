import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Engine } from '../../src/engine/engine.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { spec } from '../support/fixtures.ts';
import { runCli } from '../support/node-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'vouchsafe-campaigns-list-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { VOUCHSAFE_DATA_DIR: dir, LOG_LEVEL: 'warn' };

test('campaigns list shows as many as --limit asks, past a store page of 100, and says on stderr when there are more', async () => {
  const store = new SqliteStore({ path: join(dir, 'vouchsafe.db') });
  const engine = await Engine.open(store);
  const made: string[] = [];
  for (let i = 0; i < 105; i++)
    made.push((await engine.createCampaign(spec({ name: `c${i}` }), { actor: 'key_test' })).id);
  await engine.close();
  await store.close();
  const newest = [...made].reverse();
  const rows = (out: string) =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => (JSON.parse(l) as { id: string }).id);
  const note = /^vouchsafe: the newest \d+ campaigns shown; there are more \(--limit\)$/m;

  const all = await runCli(['campaigns', 'list', '--json', '--limit', '500'], env);
  assert.equal(all.code, 0, all.out);
  assert.deepEqual(rows(all.out), newest);
  assert.doesNotMatch(all.out, note);

  const some = await runCli(['campaigns', 'list', '--json', '--limit', '104'], env);
  assert.equal(some.code, 0, some.out);
  assert.deepEqual(rows(some.out), newest.slice(0, 104));
  assert.match(some.out, /^vouchsafe: the newest 104 campaigns shown; there are more \(--limit\)$/m);

  const exact = await runCli(['campaigns', 'list', '--json', '--limit', '105'], env);
  assert.deepEqual(rows(exact.out), newest);
  assert.doesNotMatch(exact.out, note);

  const byDefault = await runCli(['campaigns', 'list'], env);
  assert.equal(byDefault.code, 0, byDefault.out);
  assert.equal(byDefault.out.split('\n').filter((l) => l.startsWith('cmp_')).length, 20);
  assert.match(byDefault.out, /^vouchsafe: the newest 20 campaigns shown; there are more \(--limit\)$/m);
});
