import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startNode } from '../support/node-process.ts';

const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

/** The README's "Try it with curl" shell block, as a new user copies it. */
function curlBlock(): string {
  const section = readme.slice(readme.indexOf('### Try it with curl'));
  const m = /```sh\n([\s\S]*?)```/.exec(section);
  assert.ok(m?.[1], 'README has a "Try it with curl" sh block');
  return m[1];
}

const bin = fileURLToPath(new URL('../../bin/vouchsafe.js', import.meta.url));

test("the README's curl walk-through runs as written against a fresh `vouchsafe serve`: launched, claimed, redeemed, confirmed, a risky one approved by a key made on the server", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-readme-'));
  // As after `npm start` in a fresh clone: a random admin key in ./data/admin.key.
  const node = await startNode({ VOUCHSAFE_DATA_DIR: join(dir, 'data'), VOUCHSAFE_ADMIN_KEY: '', DATABASE_URL: '' });
  try {
    // What a test must change: the port (the README's server listens on 8080), and the CLI's path
    // (the README runs in the clone, where `npx vouchsafe` is its bin; this runs in a scratch dir).
    const script = curlBlock()
      .replaceAll('localhost:8080', node.url.replace(/^http:\/\//, ''))
      .replaceAll('npx vouchsafe', `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)}`);
    const run = spawnSync('bash', ['-c', `set -euo pipefail\n${script}`], { cwd: dir, encoding: 'utf8' });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    // The fields the block prints: the campaign's status after submit, the redemption's after confirm,
    // the risky campaign's after submit and after the approval.
    assert.deepEqual(run.stdout.trim().split('\n'), ['active', 'confirmed', 'pending_approval', 'active'], run.stderr);
  } finally {
    await node.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
